"""KPI facts other services act on (the commission KPI gate, probation targets)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

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
