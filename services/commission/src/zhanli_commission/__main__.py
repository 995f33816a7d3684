"""``python -m zhanli_commission [serve|api|relay|consume|migrate|recalc]``"""

from __future__ import annotations

import sys
from pathlib import Path

from zhanli_commission.main import create_app
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.cli import service_main


def main() -> None:
    if sys.argv[1:2] == ["recalc"]:  # recalc --period YYYY-MM: re-price a whole period
        from zhanli_commission.commissions.recalc import cli

        sys.exit(cli(sys.argv[2:]))
    service_main(
        prog="zhanli-commission",
        settings_factory=CommissionSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
