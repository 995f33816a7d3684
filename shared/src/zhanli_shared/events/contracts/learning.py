"""Learning facts other services act on (flexible probation targets)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract


class SkillImprovementMeasured(EventContract):
    event_type = "zhanli.learning.skill_improvement_measured"
    version = 1
    key_field = "employee_id"
    description = "Week-over-week improvement of a person's skill assessment (0.10 = 10 %)."

    employee_id: str
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W47")
    improvement: DecimalStr = Field(ge=-100, le=100)
    measured_at: dt.datetime
