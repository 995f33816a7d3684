"""Mentor programme API models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MentorWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity: int | None = Field(default=None, ge=1, le=50, description="Default: settings")
    active: bool = True


class MentorRead(BaseModel):
    employee_id: str
    name: str | None
    capacity: int
    active: bool
    flagged: bool
    mentees: list[str]
    rating_average: Decimal | None
    ratings: int


class AssignmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mentor_id: str = Field(min_length=1, max_length=64)


class AssignmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assignment_id: str
    mentor_id: str
    mentee_id: str
    status: str
    started_on: dt.date
    ended_on: dt.date | None
    end_reason: str | None


class EvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    evidence_id: str
    task_id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    task_id: str
    mentor_id: str
    mentee_id: str
    week: str
    kind: str
    title_zh: str = ""
    title_en: str = ""
    evidence_field: str = ""
    due_on: dt.date
    status: str
    overdue: bool = False
    text: str | None
    submitted_at: dt.datetime | None
    evidence: list[EvidenceRead] = Field(default_factory=list)


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=4000,
        description="The visit record, the review comment or the talk's notes",
    )


class RatingWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=10)
    week: str | None = Field(
        default=None, pattern=r"^\d{4}-W\d{2}$", description="Default: this ISO week"
    )
    comment: str | None = Field(default=None, max_length=1000)


class RatingResult(BaseModel):
    mentor_id: str
    mentee_id: str
    week: str
    score: int
    average: Decimal
    flagged: bool
    reassignment_id: str | None


class ReassignmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reassignment_id: str
    mentor_id: str
    status: str
    average: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    mentees: list[str] = Field(default_factory=list)


class MoveWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mentee_id: str = Field(min_length=1, max_length=64)
    to_mentor_id: str = Field(min_length=1, max_length=64)


class MenteeBrief(BaseModel):
    employee_id: str
    name: str
    completion_rate: Decimal | None
    overdue_courses: int
    day: int | None
    tasks: list[TaskRead]


class Workbench(BaseModel):
    mentor_id: str
    week: str
    capacity: int
    flagged: bool
    rating_average: Decimal | None
    mentees: list[MenteeBrief]
    open_tasks: int
    overdue_tasks: int
    extra: dict[str, Any] = Field(default_factory=dict)
