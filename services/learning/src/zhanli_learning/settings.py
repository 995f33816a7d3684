"""The learning service's settings (env prefix ZHANLI_LEARNING_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings


class LearningSettings(ServiceSettings):
    service_name: ClassVar[str] = "learning"
    default_port: ClassVar[int] = 8002
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_LEARNING_", extra="ignore", env_nested_delimiter="__"
    )
