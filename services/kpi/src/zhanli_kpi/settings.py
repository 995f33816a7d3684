"""The kpi service's settings (env prefix ZHANLI_KPI_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings


class KpiSettings(ServiceSettings):
    service_name: ClassVar[str] = "kpi"
    default_port: ClassVar[int] = 8003
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_KPI_", extra="ignore", env_nested_delimiter="__"
    )
