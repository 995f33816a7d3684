"""The talent service's settings (env prefix ZHANLI_TALENT_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings


class TalentSettings(ServiceSettings):
    service_name: ClassVar[str] = "talent"
    default_port: ClassVar[int] = 8001
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_TALENT_", extra="ignore", env_nested_delimiter="__"
    )
