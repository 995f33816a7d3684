"""API schemas of plans, versions, assignments and quotas."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zhanli_commission.core.plan import PlanRules

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
Period = Annotated[
    str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionCreate(_In):
    effective_from: Period
    effective_to: Period | None = Field(default=None, description="Last period (inclusive)")
    rules: PlanRules
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _range(self) -> VersionCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to must not be before effective_from")
        return self


class PlanCreate(_In):
    plan_id: Identifier
    name: str = Field(min_length=1, max_length=200, examples=["华东销售提成方案 2027"])
    description: str | None = Field(default=None, max_length=2000)
    version: VersionCreate


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan_id: str
    version: int
    effective_from: str
    effective_to: str | None
    rules: dict[str, Any]
    note: str | None
    created_at: dt.datetime
    created_by: str


class PlanRead(BaseModel):
    plan_id: str
    name: str
    description: str | None
    versions: list[VersionRead]


class AssignmentCreate(_In):
    plan_id: Identifier
    target_type: Literal["person", "unit", "role"]
    target_id: Identifier
    effective_from: Period
    effective_to: Period | None = None


class AssignmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assignment_id: str
    plan_id: str
    target_type: str
    target_id: str
    effective_from: str
    effective_to: str | None


class QuotaSet(_In):
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]


class QuotaRead(BaseModel):
    salesperson_id: str
    period: str
    amount: Decimal
    source: Literal["person", "plan"]


class CorrectionRequest(_In):
    rules: PlanRules
    apply: bool = Field(
        default=False, description="false: only show the differences; true: apply them"
    )
    reason: str = Field(min_length=1, max_length=500)


class CorrectionDiff(BaseModel):
    salesperson_id: str
    period: str
    current_total: Decimal
    corrected_total: Decimal
    difference: Decimal


class CorrectionResult(BaseModel):
    plan_id: str
    version: int
    applied: bool
    periods: list[str]
    skipped_closed_periods: list[str]
    differences: list[CorrectionDiff]
    total_difference: Decimal
