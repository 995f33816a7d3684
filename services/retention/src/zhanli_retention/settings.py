"""The retention service's settings (env prefix ZHANLI_RETENTION_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zhanli_shared.runtime import Runtime
from zhanli_shared.settings import ServiceSettings


class RetentionSettings(ServiceSettings):
    service_name: ClassVar[str] = "retention"
    default_port: ClassVar[int] = 8005
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_RETENTION_", extra="ignore", env_nested_delimiter="__"
    )

    probation_days: int = Field(default=180, ge=1, le=366, description="Probation length")
    horizon_weeks: int = Field(
        default=1, ge=1, le=13, description="The hazard label: leaves within the next k weeks"
    )
    max_weeks: int = Field(default=52, ge=4, le=260, description="Weeks of tenure modelled")
    min_people_to_train: int = Field(default=100, ge=10)
    min_exits_to_train: int = Field(default=30, ge=5)
    min_cohorts_to_train: int = Field(default=3, ge=2)
    retrain_interval_s: float = Field(
        default=0.0, ge=0, description="Retrain on a schedule (0: only on demand)"
    )
    rescore_interval_s: float = Field(
        default=0.0, ge=0, description="Rescore every active person on a schedule (0: off)"
    )
    import_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)


def retention_settings(runtime: Runtime) -> RetentionSettings:
    """The running service's settings, typed as the retention service's own."""
    settings = runtime.settings
    if not isinstance(settings, RetentionSettings):
        raise TypeError("the runtime does not carry RetentionSettings")
    return settings
