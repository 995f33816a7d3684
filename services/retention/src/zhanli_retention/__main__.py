"""``python -m zhanli_retention [serve|api|relay|consume|migrate]``"""

from __future__ import annotations

from pathlib import Path

from zhanli_retention.main import create_app
from zhanli_retention.settings import RetentionSettings
from zhanli_shared.cli import service_main


def main() -> None:
    service_main(
        prog="zhanli-retention",
        settings_factory=RetentionSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
