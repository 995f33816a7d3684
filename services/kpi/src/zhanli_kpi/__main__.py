"""``python -m zhanli_kpi [serve|api|relay|consume|migrate]``"""

from __future__ import annotations

from pathlib import Path

from zhanli_kpi.main import create_app
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.cli import service_main


def main() -> None:
    service_main(
        prog="zhanli-kpi",
        settings_factory=KpiSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
