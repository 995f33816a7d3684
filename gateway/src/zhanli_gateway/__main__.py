"""``python -m zhanli_gateway [serve|api|migrate]``"""

from __future__ import annotations

from pathlib import Path

from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.cli import service_main


def main() -> None:
    service_main(
        prog="zhanli-gateway",
        settings_factory=GatewaySettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
