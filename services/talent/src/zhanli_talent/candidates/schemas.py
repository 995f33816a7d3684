"""Candidate API schemas. Unknown fields are refused; contact data is masked on read
unless the reader is HR or a recruiter."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.\-]+$")]


class CandidateWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["李娜"])
    phone: str | None = Field(
        default=None, pattern=r"^\+?[0-9][0-9 \-]{5,19}$", examples=["13912345678"]
    )
    email: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$",
        examples=["lina@example.com"],
    )
    gender: Literal["female", "male", "other", "undisclosed"] | None = Field(
        default=None, description="For the fairness report only; never a model feature"
    )
    birth_year: int | None = Field(
        default=None, ge=1930, le=2015, description="For the fairness report (age band) only"
    )
    source: str | None = Field(default=None, max_length=100, examples=["boss直聘"])
    resume_text: str | None = Field(
        default=None, max_length=100_000, description="Resume as text (or upload a file)"
    )


class AssessmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(examples=["sales_simulation"])
    score: float = Field(ge=0, le=1_000_000)
    max_score: float = Field(default=100, gt=0, le=1_000_000)
    taken_on: dt.date
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="e.g. the simulation's sub-scores: identified_needs, argued_with_data",
    )

    @model_validator(mode="after")
    def _range(self) -> AssessmentWrite:
        if self.score > self.max_score:
            raise ValueError("score must not exceed max_score")
        return self


class AssessmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    candidate_id: str
    kind: str
    score: float
    max_score: float
    taken_on: dt.date
    details: dict[str, Any]
    recorded_by: str
    recorded_at: dt.datetime


class DuplicateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    candidate_id: str
    other_id: str
    matched_on: list[str]
    status: str
    decided_by: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class CandidateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    phone: str | None = Field(default=None, description="Masked unless HR or a recruiter")
    email: str | None = Field(default=None, description="Masked unless HR or a recruiter")
    gender: str | None = None
    birth_year: int | None = None
    source: str | None
    resume_filename: str | None
    resume_kind: str | None
    resume_encoding: str | None
    doc_length: int
    skills: list[str]
    merged_into: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    duplicates: list[DuplicateRead] = Field(default_factory=list)


class ResumeRead(BaseModel):
    candidate_id: str
    filename: str | None
    kind: str | None
    encoding: str | None
    text: str | None
    skills: list[str]
    doc_length: int
    truncated: bool = False


class MergeRequest(BaseModel):
    """Merge ``duplicate_id`` into this candidate: its applications, assessments and any
    contact data this one lacks move here; the duplicate is kept, marked merged."""

    model_config = ConfigDict(extra="forbid")

    duplicate_id: str = Field(min_length=1, max_length=36)


class DismissRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_id: str = Field(min_length=1, max_length=36)
