"""The retention service's settings (env prefix ZHANLI_RETENTION_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings


class RetentionSettings(ServiceSettings):
    service_name: ClassVar[str] = "retention"
    default_port: ClassVar[int] = 8005
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_RETENTION_", extra="ignore", env_nested_delimiter="__"
    )
