"""The kpi service's settings (env prefix ZHANLI_KPI_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import ClassVar, cast

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zhanli_shared.runtime import Runtime
from zhanli_shared.settings import ServiceSettings


class KpiSettings(ServiceSettings):
    service_name: ClassVar[str] = "kpi"
    default_port: ClassVar[int] = 8003
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_KPI_", extra="ignore", env_nested_delimiter="__"
    )

    team_bonus_threshold: float = Field(
        default=1.2, gt=0, description="Team completion that earns each member the team bonus"
    )
    team_bonus_points: float = Field(
        default=10.0, ge=0, description="KPI points each member of such a team gets (10 = +0.10)"
    )
    pace_alert_ratio: float = Field(
        default=0.8, gt=0, le=1, description="Alert when completion < this share of pro-rata pace"
    )
    pace_grace: float = Field(
        default=0.2, ge=0, le=1, description="No pace alert in this first share of a period"
    )
    pace_indicator: str = Field(default="revenue", description="The indicator pace alerts watch")


def kpi_settings(runtime: Runtime) -> KpiSettings:
    return cast(KpiSettings, runtime.settings)
