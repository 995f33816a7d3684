"""API models of the model side: configuration, training runs, versions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RuleName = Literal["training_completion", "mentor_rating", "zero_growth"]
ALL_RULES: tuple[RuleName, ...] = ("training_completion", "mentor_rating", "zero_growth")


class RulesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    training_completion_below: float = Field(default=0.80, ge=0, le=1)
    mentor_rating_below: float = Field(default=7.0, ge=0, le=10)
    zero_growth_weeks: int = Field(default=2, ge=1, le=26)
    high_flags: int = Field(default=2, ge=1, le=3)
    enabled: list[RuleName] = Field(default_factory=lambda: list(ALL_RULES))


class BandsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    medium_from: float = Field(default=0.25, gt=0, lt=1, description="90-day risk")
    high_from: float = Field(default=0.45, gt=0, lt=1, description="90-day risk")

    @model_validator(mode="after")
    def _ordered(self) -> BandsConfig:
        if self.medium_from >= self.high_from:
            raise ValueError("medium_from must be below high_from")
        return self


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: RulesConfig = Field(default_factory=RulesConfig)
    bands: BandsConfig = Field(default_factory=BandsConfig)


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait: bool = Field(default=False, description="Answer when the run has finished")


class RunRead(BaseModel):
    id: str
    trigger: str
    status: str
    progress: float
    stage: str
    requested_by: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    model_name: str
    model_version: int | None
    activated: bool
    result: dict[str, Any]
    error: str | None


class VersionRead(BaseModel):
    id: str
    name: str
    version: int
    status: str
    kind: str
    metrics: dict[str, Any]
    note: str | None
    created_by: str | None
    created_at: str
    activated_at: str | None
    activated_by: str | None
    replaced_id: str | None


class VersionList(BaseModel):
    name: str
    active_version: int | None
    basis: Literal["model", "rules"]
    basis_reason: str
    items: list[VersionRead]


class CardRead(BaseModel):
    name: str
    version: int
    card: dict[str, Any]
    markdown: str
