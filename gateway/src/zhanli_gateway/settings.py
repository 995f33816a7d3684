"""The gateway's settings (env prefix ZHANLI_GATEWAY_, falling back to ZHANLI_)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings

DEFAULT_UPSTREAMS = {
    "talent": "http://127.0.0.1:8001",
    "learning": "http://127.0.0.1:8002",
    "kpi": "http://127.0.0.1:8003",
    "commission": "http://127.0.0.1:8004",
    "retention": "http://127.0.0.1:8005",
}


class GatewaySettings(ServiceSettings):
    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_GATEWAY_", extra="ignore", env_nested_delimiter="__"
    )

    upstreams: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UPSTREAMS))
    upstream_connect_timeout_s: float = 2.0
    upstream_read_timeout_s: float = 30.0
    upstream_max_connections: int = 256
    breaker_failure_threshold: int = 5
    breaker_reset_s: float = 10.0

    auth_private_key: SecretStr | None = None
    auth_private_key_file: str | None = None
    auth_key_id: str = "zhanli-local-1"
    token_ttl_s: int = 3600
    bootstrap_admin_password: SecretStr | None = None

    def private_key_pem(self) -> str | None:
        if self.auth_private_key:
            return self.auth_private_key.get_secret_value()
        if self.auth_private_key_file:
            return Path(self.auth_private_key_file).read_text()
        return None
