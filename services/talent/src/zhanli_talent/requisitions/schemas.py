"""Requisition, application (pipeline) and interview API schemas."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
Family = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]


def _plausible_time(value: dt.datetime) -> dt.datetime:
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_plausible_time)]


def _plausible_day(value: dt.date) -> dt.date:
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return value


Day = Annotated[dt.date, AfterValidator(_plausible_day)]


class Stage(StrEnum):
    APPLIED = "applied"
    SCREENED = "screened"
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRED = "hired"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


TERMINAL = frozenset({Stage.HIRED, Stage.REJECTED, Stage.WITHDRAWN})
NEXT: dict[Stage, frozenset[Stage]] = {
    Stage.APPLIED: frozenset({Stage.SCREENED, Stage.REJECTED, Stage.WITHDRAWN}),
    Stage.SCREENED: frozenset({Stage.INTERVIEW, Stage.REJECTED, Stage.WITHDRAWN}),
    Stage.INTERVIEW: frozenset({Stage.OFFER, Stage.REJECTED, Stage.WITHDRAWN}),
    Stage.OFFER: frozenset({Stage.HIRED, Stage.REJECTED, Stage.WITHDRAWN}),
}


class RequisitionWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, examples=["货代销售经理（上海）"])
    job_family: Family = Field(examples=["freight_sales"])
    job_role: str = Field(default="salesperson", min_length=1, max_length=64)
    org_unit_id: Identifier = Field(examples=["T1"])
    hiring_manager_ids: list[Identifier] = Field(min_length=1, max_length=20)
    recruiter_id: Identifier | None = None
    headcount: int = Field(default=1, ge=1, le=1000)
    opened_on: dt.date | None = None


class RequisitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    job_family: str
    job_role: str
    org_unit_id: str
    hiring_manager_ids: list[str]
    recruiter_id: str | None
    headcount: int
    status: str
    opened_on: dt.date
    created_at: dt.datetime


class ApplicationWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str = Field(min_length=1, max_length=36)


class ReasonRead(BaseModel):
    factor: str
    kind: str
    direction: Literal["up", "down"]
    points: float
    detail: str


class Explanation(BaseModel):
    reasons_up: list[ReasonRead]
    reasons_down: list[ReasonRead]
    keywords_matched: list[str]
    keywords_missing: list[str]
    traits_missing: list[str]
    model_version: int | None = Field(
        default=None, description="Version of the learned model blended in, if any"
    )
    note: str = Field(
        default="A recommendation for a person to review, never an automatic decision.",
    )


class ApplicationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    requisition_id: str
    candidate_id: str
    candidate_name: str | None = None
    skills: list[str] = Field(default_factory=list)
    stage: Stage
    stage_changed_at: dt.datetime
    history: list[dict[str, Any]]
    score: float | None
    rule_score: float | None
    learned_probability: float | None
    pool: str | None
    profile_version: int | None
    explanation: Explanation | None
    scored_at: dt.datetime | None
    next_step: str | None
    next_step_due: dt.datetime | None
    offer_sent_at: dt.datetime | None
    employee_id: str | None
    hired_on: dt.date | None
    separated_on: dt.date | None
    separation_reason: str | None


class TransitionWrite(BaseModel):
    """Move the application; a rejection needs a person's reason (the score alone never
    rejects anyone). ``next_step`` and its due time say what happens next."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["screened", "interview", "offer", "rejected", "withdrawn"]
    reason: str | None = Field(default=None, max_length=1000)
    next_step: str | None = Field(default=None, max_length=200, examples=["电话面试"])
    next_step_due: Moment | None = None


class HireWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: Identifier = Field(examples=["E2031"])
    hired_on: Day
    org_unit_id: Identifier | None = Field(default=None, description="Default: the requisition's")
    manager_id: Identifier | None = Field(
        default=None, description="Default: the requisition's first hiring manager"
    )


class InterviewWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interviewer_id: Identifier
    scheduled_at: Moment


class FeedbackWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ratings: dict[
        Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")],
        Annotated[float, Field(ge=1, le=5)],
    ] = Field(min_length=1, max_length=20, examples=[{"listening": 4.5, "needs_discovery": 4}])
    recommendation: Literal["strong_yes", "yes", "no", "strong_no"]
    notes: str | None = Field(default=None, max_length=10_000)


class InterviewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    application_id: str
    interviewer_id: str
    scheduled_at: dt.datetime
    ratings: dict[str, float]
    recommendation: str | None
    notes: str | None
    submitted_at: dt.datetime | None


class RankPage(BaseModel):
    requisition_id: str
    profile_version: int | None
    total: int
    counts_by_pool: dict[str, int]
    items: list[ApplicationRead]
    limit: int
    offset: int


class RescoreJobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_family: str
    profile_version: int
    status: str
    total: int
    done: int
    changed_pool: int
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ReminderRunRead(BaseModel):
    sent: int
    by_kind: dict[str, int]
