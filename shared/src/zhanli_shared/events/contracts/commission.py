"""Commission events."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

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
