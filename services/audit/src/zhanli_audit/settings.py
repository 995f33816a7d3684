"""The audit service's settings (env prefix ZHANLI_AUDIT_, falling back to ZHANLI_)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: ClassVar[str] = "audit"
    default_port: ClassVar[int] = 8007
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_AUDIT_", extra="ignore", env_nested_delimiter="__"
    )

    # Outgoing webhooks (zhanli_audit.webhooks). Retries back off exponentially with
    # jitter: base * 2^(attempt-1), capped; the defaults spread 8 attempts over ~1 hour.
    webhook_dispatcher_enabled: bool = True
    webhook_http_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="hosts a subscription may reach over plain http (e.g. 127.0.0.1 in the "
        "embedded mode); every other URL must be https",
    )
    webhook_blocked_topics: list[str] = Field(
        default_factory=lambda: ["zhanli.audit.*", "zhanli.gateway.*"],
        description="topics (or patterns) never offered to webhooks",
    )
    webhook_poll_interval_s: float = 1.0
    webhook_batch_size: int = 100
    webhook_max_concurrency: int = 16
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 8
    webhook_backoff_base_s: float = 30.0
    webhook_backoff_cap_s: float = 1800.0
    webhook_backoff_jitter: float = 0.2  # +/- this fraction of each delay
    webhook_secret_grace_s: int = 86_400  # the old secret still signs after a rotation

    # Signed checkpoints of the chain (zhanli_audit.audit.checkpoints): signed with the
    # platform's signing key (the gateway's, whose public half is in its JWKS).
    auth_private_key: SecretStr | None = None
    auth_private_key_file: str | None = None
    auth_key_id: str = "zhanli-local-1"
    local_issuer: str | None = None

    def private_key_pem(self) -> str | None:
        if self.auth_private_key:
            return self.auth_private_key.get_secret_value()
        if self.auth_private_key_file:
            return Path(self.auth_private_key_file).read_text()
        return None
