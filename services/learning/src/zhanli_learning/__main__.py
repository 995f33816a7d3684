"""``python -m zhanli_learning [serve|api|relay|consume|migrate]``"""

from __future__ import annotations

from pathlib import Path

from zhanli_learning.main import create_app
from zhanli_learning.settings import LearningSettings
from zhanli_shared.cli import service_main


def main() -> None:
    service_main(
        prog="zhanli-learning",
        settings_factory=LearningSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
