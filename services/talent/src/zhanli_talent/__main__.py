"""``python -m zhanli_talent [serve|api|relay|consume|migrate]``"""

from __future__ import annotations

from pathlib import Path

from zhanli_shared.cli import service_main
from zhanli_talent.main import create_app
from zhanli_talent.settings import TalentSettings


def main() -> None:
    service_main(
        prog="zhanli-talent",
        settings_factory=TalentSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
