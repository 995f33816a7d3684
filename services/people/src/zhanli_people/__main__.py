"""``python -m zhanli_people [serve|api|relay|consume|migrate|import-from-gateway]``"""

from __future__ import annotations

import sys
from pathlib import Path

from zhanli_people.main import create_app
from zhanli_people.settings import PeopleSettings
from zhanli_shared.cli import service_main


def main() -> None:
    if sys.argv[1:2] == ["import-from-gateway"]:  # carry an older install's rows over
        from zhanli_people.carry import cli

        sys.exit(cli(sys.argv[2:]))
    service_main(
        prog="zhanli-people",
        settings_factory=PeopleSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
