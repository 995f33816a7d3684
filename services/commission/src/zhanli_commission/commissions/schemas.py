"""Commission read models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CommissionLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    commission_id: str
    deal_id: str
    payment_id: str | None
    basis_amount: Decimal
    rate: Decimal
    amount: Decimal
    currency: str
    rule: str
    occurred_at: dt.datetime
    calculated_at: dt.datetime
    kind: str = "earning"
    credit_id: str | None = None
    own: Decimal | None = None
    trueup: Decimal | None = None
    tier: str | None = None
    plan_id: str | None = None
    plan_version: int | None = None
    explanation: dict[str, Any] | None = None


class ProbationRead(BaseModel):
    """Flexible probation target of the month (plans with ``probation``)."""

    month_of_service: int | None
    target_deals: int
    deals: int
    adjustment: str
    met: bool
    reward: Decimal


class LivePosition(BaseModel):
    """A person's live *position* in a period: what they have earned so far, every line as
    it was written (``GET /people/{id}/statement``). Once the period is closed the
    *statement* (``statements.schemas.StatementRead``) is what is approved and paid."""

    salesperson_id: str
    period: str
    currency: str
    total: Decimal
    basis_total: Decimal
    lines: list[CommissionLineRead]
    status: str = "open"
    plan_id: str | None = None
    plan_version: int | None = None
    quota: Decimal | None = None
    attainment: Decimal | None = None
    tier: str | None = None
    kept: Decimal = Decimal("0.00")
    probation: ProbationRead | None = None
    draw_balance: Decimal = Field(
        default=Decimal("0.00"), description="Recoverable draw still owed back (statements)"
    )
    carried_balance: Decimal = Field(
        default=Decimal("0.00"), description="Negative pay carried to the next payout"
    )


class RecalculationRead(BaseModel):
    """What recalculating a period did (``POST /periods/{period}/recalculate``)."""

    period: str
    people: int = Field(description="People with credits in the period")
    changed_people: int
    lines_appended: int
    delta: Decimal = Field(description="Sum of the lines appended")
    events: int = Field(description="commission.calculated events published")
    skipped_closed: int = Field(description="Closed statements, never changed")
    skipped_unknown: int = Field(description="Credits of people the directory does not know")
    failed: dict[str, str] = Field(description="People the plan could not price, with why")
    seconds: float
