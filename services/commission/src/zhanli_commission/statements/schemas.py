"""API schemas of statements, period close, approvals, payouts and disputes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
PeriodStr = Annotated[str, Field(pattern=PERIOD_PATTERN, examples=["2026-11"])]
UnitId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
# A signed amount to the fen (an adjustment may take money back).
SignedMoney = Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=-(10**12), le=10**12)]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class StatementLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    commission_id: str
    kind: str
    deal_id: str
    payment_id: str | None
    rule: str
    tier: str | None
    rate: Decimal
    basis_amount: Decimal
    amount: Decimal
    currency: str
    plan_id: str | None
    plan_version: int | None
    explanation: dict[str, Any] | None
    occurred_at: dt.datetime
    calculated_at: dt.datetime


class HistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    from_status: str
    to_status: str
    actor_id: str
    comment: str | None
    at: dt.datetime


class RejectionRead(BaseModel):
    reason: str
    by: str
    at: dt.datetime


class PayoutRead(BaseModel):
    batch_id: str
    carried_in: Decimal
    amount: Decimal
    carried_out: Decimal


class StatementRead(BaseModel):
    salesperson_id: str
    name: str
    org_unit_id: str | None
    period: str
    status: str = Field(description="open, closed, manager_approved, payable or paid")
    currency: str
    total: Decimal = Field(description="Sum of every line: earnings, adjustments and draws")
    earnings_total: Decimal = Field(description="Every line but draws and draw recoveries")
    draw_total: Decimal = Field(description="Draw top-ups minus draw recoveries")
    basis_total: Decimal
    quota: Decimal | None
    attainment: Decimal | None
    tier: str | None
    plan_id: str | None
    plan_version: int | None
    draw_balance: Decimal = Field(
        description="Recoverable draw still owed back (after this period once closed)"
    )
    carried_balance: Decimal = Field(
        description="Negative pay carried from earlier payouts, applied to the next payout"
    )
    payable: Decimal | None = Field(
        description="What the next payout pays for this statement (total + carried, >= 0); "
        "the batch's figure once batched"
    )
    closed_at: dt.datetime | None
    rejection: RejectionRead | None
    approvals: list[HistoryRead] = Field(description="Every status change, oldest first")
    payout: PayoutRead | None
    open_disputes: int
    lines: list[StatementLineRead]


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_unit_id: UnitId | None = Field(
        default=None, description="Close only this unit (and below); default: everyone"
    )


class CloseResult(BaseModel):
    period: str
    org_unit_id: str | None
    closed: int = Field(description="Statements closed by this request")
    created_without_activity: int = Field(description="Of which people with a plan, no lines")
    already_closed: int
    draw_lines: int


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Literal["manager", "finance"] | None = Field(
        default=None, description="Default: finance for finance users, else manager"
    )
    comment: str | None = Field(default=None, max_length=1000)


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class AdjustmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: SignedMoney
    reason: Reason


class PayoutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: PeriodStr
    org_unit_id: UnitId | None = None


class PayoutPaid(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_reference: str | None = Field(default=None, max_length=200)


class PayoutItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    salesperson_id: str
    name: str
    org_unit_id: str | None
    statement_total: Decimal
    draw_total: Decimal
    carried_in: Decimal
    amount: Decimal
    carried_out: Decimal
    currency: str


class PayoutBatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    batch_id: str
    period: str
    org_unit_id: str | None
    status: str
    currency: str
    total_amount: Decimal
    created_at: dt.datetime
    created_by: str
    paid_at: dt.datetime | None
    paid_by: str | None
    payment_reference: str | None
    items: list[PayoutItemRead]


class PayoutBatchSummary(BaseModel):
    """A payout batch without its items (``GET /payouts/{batch_id}`` has them)."""

    model_config = ConfigDict(from_attributes=True)

    batch_id: str
    period: str
    org_unit_id: str | None
    status: str = Field(description="created, then paid")
    currency: str
    total_amount: Decimal
    items: int = Field(description="How many people the batch pays")
    created_at: dt.datetime
    created_by: str
    paid_at: dt.datetime | None
    paid_by: str | None
    payment_reference: str | None


class PayoutBatchList(BaseModel):
    items: list[PayoutBatchSummary]
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next (older) page; null on the last page"
    )


class DisputeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class DisputeResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accepted", "rejected"]
    answer: Annotated[str, Field(min_length=1, max_length=2000)]
    amount: SignedMoney | None = Field(
        default=None, description="The adjustment (accepted only; not zero)"
    )


class DisputeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    dispute_id: str
    commission_id: str
    salesperson_id: str
    period: str
    status: str
    reason: str
    raised_by: str
    raised_at: dt.datetime
    answer: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    adjustment_amount: Decimal | None
    adjustment_commission_id: str | None
    adjustment_period: str | None


class DisputeList(BaseModel):
    items: list[DisputeRead]
