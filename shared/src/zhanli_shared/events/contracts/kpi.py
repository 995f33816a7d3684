"""KPI facts other services act on (the commission KPI gate, probation targets)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract


class KpiScoreUpdated(EventContract):
    event_type = "zhanli.kpi.score_updated"
    version = 1
    key_field = "employee_id"
    description = "A person's weighted KPI score for a period changed (0 = nothing, 1 = 100 %)."

    employee_id: str
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    score: DecimalStr = Field(ge=0, le=10)
    calculated_at: dt.datetime


class PerformanceGrowthMeasured(EventContract):
    event_type = "zhanli.kpi.performance_growth_measured"
    version = 1
    key_field = "employee_id"
    description = (
        "Day-over-day growth of a person's performance (0.05 = 5 %), for flexible probation "
        "targets."
    )

    employee_id: str
    day: dt.date = Field(description="Business day, company time zone")
    growth: DecimalStr = Field(ge=-100, le=100)
    measured_at: dt.datetime


class TrainingRecommended(EventContract):
    event_type = "zhanli.kpi.training_recommended"
    version = 1
    key_field = "employee_id"
    description = (
        "KPI found a weak indicator for a person and recommends training: a course of the "
        "learning catalogue, or a skill to build (learning picks its best course)."
    )

    employee_id: str
    indicator: str = Field(description="The weak KPI indicator, e.g. 'conversion_rate'")
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    course_id: str | None = Field(default=None, description="A course of the catalogue")
    skill_id: str | None = Field(default=None, description="Or a skill to build")
    reason: str = Field(default="", max_length=500, description="Why, for the person")
    recommended_at: dt.datetime


class PaceCause(BaseModel):
    """A linked indicator missing its target: a probable cause of the shortfall."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str
    value: DecimalStr
    target: DecimalStr
    owner_role: str | None = Field(default=None, description="Who answers for it")


class KpiPaceAlert(EventContract):
    event_type = "zhanli.kpi.pace_alert"
    version = 1
    key_field = "employee_id"
    description = (
        "A person's completion of the watched indicator (default: revenue) is behind the "
        "pro-rata pace of the period (default: below 80 % of it), with the probable causes "
        "traced through linked indicators; for the person, their manager and the owners of "
        "those indicators (webhooks carry it to WeCom/DingTalk)."
    )

    employee_id: str
    manager_id: str | None = None
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    indicator: str
    completion: DecimalStr = Field(description="Actual / target so far (0.4 = 40 %)")
    pace: DecimalStr = Field(description="Share of the period gone by")
    threshold: DecimalStr = Field(description="Alert below this share of the pace")
    causes: list[PaceCause] = Field(default_factory=list)
    notify_roles: list[str] = Field(default_factory=list, description="Owners of the causes")
    message: str = Field(max_length=500)
    raised_at: dt.datetime
