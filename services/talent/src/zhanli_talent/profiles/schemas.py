"""Competency profile API schemas. Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Family = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
TraitName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.\-]+$")]
TraitSource = Literal["assessment", "interview", "behaviour"]


class KeywordWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keyword: str = Field(min_length=1, max_length=50, examples=["客户开发"])
    weight: float = Field(default=1.0, ge=0, le=100)


class TraitWrite(BaseModel):
    """A trait of the profile. ``assessment`` traits are matched with the candidate's
    latest result of that kind, ``interview`` traits (``interview.<criterion>``) with the
    mean interview rating; ``behaviour`` traits (weekly follow-ups ...) describe what top
    performers do on the job: shown and used as probation targets, not in the match."""

    model_config = ConfigDict(extra="forbid")

    name: TraitName = Field(examples=["stress_resilience"])
    label: str | None = Field(default=None, max_length=100, examples=["抗压能力"])
    source: TraitSource = "assessment"
    weight: float = Field(default=1.0, ge=0, le=100)
    threshold: float = Field(ge=-1e9, le=1e9, examples=[75])
    tolerance: float | None = Field(
        default=None,
        gt=0,
        le=1e9,
        description="How far short of the threshold the fit reaches 0 (default: 40% of it)",
    )
    higher_is_better: bool = True


class ProfileWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["B2B SaaS 销售"])
    keywords: list[KeywordWrite] = Field(default_factory=list, max_length=100)
    traits: list[TraitWrite] = Field(default_factory=list, max_length=50)
    keyword_share: float = Field(default=0.4, ge=0, le=1)
    elimination_below: float = Field(default=60, ge=0, le=100)
    focus_above: float = Field(default=80, ge=0, le=100)
    avg_doc_len: float = Field(default=300, gt=0, le=100_000)
    learned_weight: float = Field(default=0.0, ge=0, le=0.9)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _thresholds(self) -> ProfileWrite:
        if self.elimination_below > self.focus_above:
            raise ValueError("elimination_below must not exceed focus_above")
        names = [t.name for t in self.traits]
        if len(set(names)) != len(names):
            raise ValueError("trait names must be unique")
        return self


class ProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_family: str
    version: int
    active: bool
    name: str
    keywords: list[dict[str, Any]]
    traits: list[dict[str, Any]]
    keyword_share: float
    elimination_below: float
    focus_above: float
    avg_doc_len: float
    learned_weight: float
    learned_model: str | None
    learned_from: dict[str, Any] | None
    note: str | None
    created_by: str
    created_at: dt.datetime
    rescore_job_id: str | None = None


class LearnRequest(BaseModel):
    """Learn a new version from top performers: the people with KPI scores in the window
    (optionally of one job role) ranked by their mean score; the top share is the top
    group; the profile's keywords and settings are kept from the active version."""

    model_config = ConfigDict(extra="forbid")

    period_from: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-01"])
    period_to: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"])
    top_share: float = Field(default=0.2, gt=0, lt=1)
    job_role: str | None = Field(default=None, max_length=64, examples=["salesperson"])
    trait_sources: dict[TraitName, TraitSource] = Field(
        default_factory=dict,
        description="Source of each trait (default: assessment); others are behaviour",
    )
    lower_is_better: list[TraitName] = Field(default_factory=list, examples=[["deal_cycle_days"]])
    activate: bool = Field(default=False, description="Make the learned version active now")
    name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _window(self) -> LearnRequest:
        if self.period_from > self.period_to:
            raise ValueError("period_from must not be after period_to")
        return self


class TraitObservationWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: str = Field(min_length=1, max_length=64)
    trait: TraitName
    value: float = Field(ge=-1e9, le=1e9)
    observed_on: dt.date
    source: str | None = Field(default=None, max_length=100, examples=["crm"])


class TraitObservationsWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observations: list[TraitObservationWrite] = Field(min_length=1, max_length=10_000)


class CountRead(BaseModel):
    written: int
