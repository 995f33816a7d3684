"""The people service's settings (env prefix ZHANLI_PEOPLE_, falling back to ZHANLI_)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from zhanli_shared.runtime import Runtime
from zhanli_shared.settings import ServiceSettings


class PeopleSettings(ServiceSettings):
    service_name: ClassVar[str] = "people"
    default_port: ClassVar[int] = 8006
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_PEOPLE_", extra="ignore", env_nested_delimiter="__"
    )

    # The built-in issuer (the embedded default; production signs in through the IdP): the
    # same private key as the gateway's, which mints the tokens of API keys.
    auth_private_key: SecretStr | None = None
    auth_private_key_file: str | None = None
    auth_key_id: str = "zhanli-local-1"
    token_ttl_s: int = 3600
    bootstrap_admin_password: SecretStr | None = None
    local_issuer: str | None = Field(
        default=None,
        description="'iss' of the sign-in tokens this service signs; default auth_issuer "
        "(set it like the gateway's ZHANLI_GATEWAY_LOCAL_ISSUER next to an IdP)",
    )
    gateway_subject: str = Field(
        default="service:gateway",
        description="The subject of the gateway's own service token: only it may look up "
        "API keys on the internal endpoint",
    )
    import_stale_after_s: float = Field(
        default=600.0,
        gt=0,
        description="A directory import that stored no progress for this long was "
        "interrupted (the process stopped mid-file): it is shown as failed",
    )

    def model_post_init(self, __context: Any) -> None:
        super().model_post_init(__context)
        if not self.local_issuer:
            self.local_issuer = self.auth_issuer

    def private_key_pem(self) -> str | None:
        if self.auth_private_key:
            return self.auth_private_key.get_secret_value()
        if self.auth_private_key_file:
            return Path(self.auth_private_key_file).read_text()
        return None


def people_settings(runtime: Runtime) -> PeopleSettings:
    """The running service's settings, typed as the people service's own."""
    settings = runtime.settings
    if not isinstance(settings, PeopleSettings):
        raise TypeError(f"not the people service's settings: {type(settings).__name__}")
    return settings
