"""Path API models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhanli_learning.dates import BusinessDate


class PathItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: str
    course_id: str
    title_zh: str | None = None
    title_en: str | None = None
    format: str | None = None
    duration_minutes: int | None = None
    position: int
    reason: str
    closes: dict[str, int]
    start_on: dt.date
    due_on: dt.date
    within_probation: bool
    status: str
    overdue: bool = False
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    quiz_score: int | None
    note: str | None


class PathRead(BaseModel):
    path_id: str
    employee_id: str
    job_family: str
    start_on: dt.date
    probation_ends_on: dt.date
    day: int = Field(description="Day N of the probation (1 on the first day)")
    probation_days: int
    weekly_hours: float
    gaps: dict[str, int]
    open_gaps: dict[str, int]
    version: int
    source: str
    completion_rate: Decimal
    completed: int
    total: int
    overdue: int
    items: list[PathItemRead]


class PathGenerate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_on: BusinessDate | None = Field(default=None, description="Default: the hire date")
    regenerate: bool = Field(
        default=False, description="Plan again (only while no course has started)"
    )


class ItemAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course_id: str = Field(min_length=1, max_length=64)
    due_on: BusinessDate | None = None
    note: str | None = Field(default=None, max_length=500)


class ItemChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_on: BusinessDate | None = None
    note: str | None = Field(default=None, max_length=500)


class ItemRemove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quiz_score: int | None = Field(default=None, ge=0, le=100)


class ChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    change_id: str
    version: int
    action: str
    detail: dict[str, Any]
    actor: str
    at: dt.datetime


class SweepResult(BaseModel):
    day: dt.date
    counts: dict[str, int]
