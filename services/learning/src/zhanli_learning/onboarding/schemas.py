"""Onboarding view models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field


class Deadline(BaseModel):
    kind: str = Field(description="course | mentor_task")
    id: str
    title_zh: str
    title_en: str
    due_on: dt.date
    overdue: bool


class MentorBrief(BaseModel):
    employee_id: str
    name: str | None
    since: dt.date


class WeekTasks(BaseModel):
    week: str
    done: int
    total: int
    tasks: list[dict[str, str]]


class Onboarding(BaseModel):
    employee_id: str
    name: str
    status: str
    job_role: str
    hired_on: dt.date | None
    day: int | None = Field(description="Day N of the probation")
    probation_days: int
    probation_ends_on: dt.date | None
    has_path: bool
    completion_rate: Decimal | None
    completed: int
    total: int
    overdue: int
    weekly_hours: float | None
    mentor: MentorBrief | None
    mentor_week: WeekTasks | None
    next_deadlines: list[Deadline]
    kpi_score: Decimal | None = Field(
        default=None, description="The latest monthly KPI score (1 = 100 %), from KPI"
    )
    kpi_period: str | None = None
    skills: dict[str, dict[str, int | None]] = Field(
        description="skill -> {score, required}: where the person stands"
    )


class SweepResult(BaseModel):
    day: dt.date
    counts: dict[str, int]
