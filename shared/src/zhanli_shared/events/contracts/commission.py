"""Commission events."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract, MoneyStr


class CommissionCalculated(EventContract):
    event_type = "zhanli.commission.calculated"
    version = 1
    key_field = "salesperson_id"
    description = (
        "A salesperson's commission position changed: the delta this fact caused and the "
        "new total for the period."
    )

    commission_id: str
    salesperson_id: str
    deal_id: str
    payment_id: str | None = None
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="Business month, company time zone")
    basis_amount: MoneyStr
    rate: DecimalStr
    delta: MoneyStr
    period_total: MoneyStr
    currency: str
    rule: str = Field(description="The plan rule that produced the line")
    calculated_at: dt.datetime
    kind: str = Field(
        default="earning",
        description="earning, repricing (a later fact changed an earlier line), clawback, "
        "draw, bonus, override or adjustment",
    )
    plan_id: str | None = None
    plan_version: int | None = None
    tier: str | None = None
    trueup: MoneyStr | None = Field(
        default=None, description="Part of the delta that re-prices earlier lines"
    )


class StatementStatusChanged(EventContract):
    event_type = "zhanli.commission.statement_status_changed"
    version = 1
    key_field = "salesperson_id"
    description = (
        "A commission statement moved in its lifecycle: closed with its period, approved by "
        "the person's manager, approved by finance (payable), refused back to closed with a "
        "reason, or paid."
    )

    salesperson_id: str
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="Business month, company time zone")
    from_status: str = Field(description="open, closed, manager_approved, payable or paid")
    status: str = Field(description="closed, manager_approved, payable or paid")
    action: str = Field(
        description="close, manager_approve, finance_approve, reject, adjust or pay"
    )
    total: MoneyStr = Field(description="The statement's total (all its lines)")
    draw_balance: MoneyStr = Field(description="Recoverable draw still owed after this period")
    currency: str
    changed_by: str
    changed_at: dt.datetime
    reason: str | None = Field(default=None, description="Why it was refused (reject)")
    payout_batch_id: str | None = None


class PayoutItem(BaseModel):
    """One person's line in a payout batch (part of ``PayoutBatchCreated``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    salesperson_id: str
    amount: MoneyStr = Field(description="Paid: statement total + carried balance, never < 0")
    statement_total: MoneyStr
    carried_in: MoneyStr = Field(description="Negative balance carried from earlier payouts")
    carried_out: MoneyStr = Field(description="Negative balance carried to the next payout")


class PayoutBatchCreated(EventContract):
    event_type = "zhanli.commission.payout_batch_created"
    version = 1
    key_field = "batch_id"
    description = (
        "Finance created a payout batch from the finance-approved statements of a period: "
        "what payroll pays each person."
    )

    batch_id: str
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    org_unit_id: str | None = None
    currency: str
    total_amount: MoneyStr
    items: list[PayoutItem]
    created_by: str
    created_at: dt.datetime
