"""Assessment API models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from zhanli_learning.dates import BusinessDate


class AssessmentKind(StrEnum):
    INITIAL = "initial"
    REASSESSMENT = "reassessment"


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skill_id: str = Field(min_length=1, max_length=64)
    score: int = Field(ge=0, le=100)


class AssessmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AssessmentKind = AssessmentKind.REASSESSMENT
    assessed_on: BusinessDate
    scores: list[ScoreIn] = Field(min_length=1, max_length=50)
    source: str | None = Field(
        default=None, max_length=200, description="e.g. 行业知识测试 industry test v2"
    )


class AssessmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assessment_id: str
    employee_id: str
    skill_id: str
    score: int
    assessed_on: BusinessDate
    kind: str
    source: str | None
    created_at: dt.datetime


class AssessmentResult(BaseModel):
    employee_id: str
    recorded: list[AssessmentRead]
    week: str
    improvement: Decimal | None = Field(
        description="The week's skill improvement (0.15 = 15 %) after this assessment, "
        "published for commission's flexible probation target; null for a baseline"
    )
    path_regenerated: bool


class SkillLevel(BaseModel):
    skill_id: str
    score: int
    assessed_on: BusinessDate
    required: int | None


class AssessmentSummary(BaseModel):
    employee_id: str
    latest: list[SkillLevel]
    history: list[AssessmentRead]
