"""The learning service's settings (env prefix ZHANLI_LEARNING_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings

EVIDENCE_TYPES = ["image/jpeg", "image/png", "application/pdf", "text/plain"]


class LearningSettings(ServiceSettings):
    service_name: ClassVar[str] = "learning"
    default_port: ClassVar[int] = 8002
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_LEARNING_", extra="ignore", env_nested_delimiter="__"
    )

    probation_days: int = Field(default=90, ge=7, le=366)
    base_weekly_hours: float = Field(default=5.0, gt=0, le=40)
    fast_weekly_hours: float = Field(default=7.0, gt=0, le=40)
    max_weekly_hours: float = Field(default=10.0, gt=0, le=40)
    fast_learner_at: int = Field(default=80, ge=0, le=100)
    agility_skill: str = "learning_agility"
    escalate_after_days: int = Field(default=3, ge=0, le=60)
    mentor_capacity: int = Field(default=3, ge=1, le=50)
    mentor_rating_threshold: int = Field(default=7, ge=1, le=10)
    evidence_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    evidence_types: list[str] = Field(default_factory=lambda: list(EVIDENCE_TYPES))
    sweep_interval_s: float = Field(default=3600.0, ge=0, description="0: no background sweep")


def learning_settings(runtime: Any) -> LearningSettings:
    settings = runtime.settings
    assert isinstance(settings, LearningSettings)
    return settings
