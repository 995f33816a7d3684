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
