from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
CODE = r"^[a-z][a-z0-9_]{0,63}$"


class BandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_completion: float = Field(ge=-1e6, le=1e6, allow_inf_nan=False)
    score: float = Field(ge=0, le=10, allow_inf_nan=False)


class CurveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["higher", "lower", "lower_baseline", "closer"] = Field(
        default="higher",
        description="higher: actual/target; lower: target/actual; lower_baseline: "
        "(baseline-actual)/(baseline-target); closer: 1-|actual-target|/tolerance",
    )
    cap: float | None = Field(
        default=None, description="Highest score, e.g. 1.2", allow_inf_nan=False
    )
    floor: float | None = Field(
        default=None,
        description="Completion below which the score is 0, e.g. 0.8",
        allow_inf_nan=False,
    )
    baseline: float | None = Field(default=None, allow_inf_nan=False)
    tolerance: float | None = Field(default=None, allow_inf_nan=False)
    bands: list[BandSpec] = Field(default_factory=list, max_length=20)


class PlanLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    indicator: str = Field(pattern=CODE)
    weight: Decimal = Field(gt=0, le=100, max_digits=7, decimal_places=4, description="Percent")
    target: float = Field(allow_inf_nan=False, ge=-1e15, le=1e15)
    curve: CurveSpec = Field(default_factory=lambda: CurveSpec())


class PlanWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    level: str = Field(min_length=1, max_length=64, examples=["salesperson_new"])
    lines: list[PlanLine] = Field(min_length=1, max_length=30)
    description: str | None = Field(default=None, max_length=1000)


class PlanRead(PlanWrite):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    plan_id: str
    version: int
    updated_at: dt.datetime
    updated_by: str


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: str = Field(min_length=1, max_length=64)
    target_type: Literal["person", "unit", "role"]
    target_id: str = Field(min_length=1, max_length=64)
    effective_from: str = Field(pattern=PERIOD)
    effective_to: str | None = Field(default=None, pattern=PERIOD)


class AssignmentRead(AssignmentCreate):
    model_config = ConfigDict(from_attributes=True, extra="ignore")
    assignment_id: str
    created_at: dt.datetime
    created_by: str


class TargetSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: float = Field(allow_inf_nan=False, ge=-1e15, le=1e15)
    bonus_threshold: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="Team rule: completion that earns the bonus (1.2 = 120 %)",
    )
    bonus_points: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Team rule: KPI points each member gets (10 = +0.10)",
    )


class TargetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    scope_type: str
    scope_id: str
    period: str
    indicator: str
    target: float
    parent_id: str | None
    weight: float | None
    bonus_threshold: float | None
    bonus_points: float | None
    updated_at: dt.datetime


class CascadeWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: float = Field(allow_inf_nan=False, ge=-1e15, le=1e15, description="The unit's")
    children: dict[str, float] = Field(
        min_length=1,
        max_length=500,
        description="Person or sub-unit id -> weight; the unit's target is split by weight",
    )


def curve_dict(line: PlanLine) -> dict[str, Any]:
    return line.curve.model_dump()
