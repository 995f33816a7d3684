"""Commission what-if: "if I close this deal of X, what do I earn and where do I land on the
tiers?" Priced by the same engine, plan, quota and credits as the real path; nothing is
written: the person's stored credits plus one hypothetical credit are priced in memory.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import pricing, snapshot
from zhanli_commission.core import engine
from zhanli_commission.sales.schemas import Currency, PositiveMoney
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import NotFound, OutOfScope, Unprocessable
from zhanli_shared.money import business_month

ZERO = Decimal("0.00")


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    currency: Currency | None = None
    paid_at: AwareDatetime | None = None
    product_line: str | None = Field(default=None, max_length=100)
    margin: PositiveMoney | None = Field(
        default=None, description="The deal's margin share, for margin-based plans"
    )


class WhatIfResult(BaseModel):
    employee_id: str
    period: str
    currency: str
    amount: Decimal
    current_total: Decimal
    basis_total: Decimal
    new_basis_total: Decimal
    estimated_commission: Decimal
    new_total: Decimal
    rate: Decimal
    rule: str
    own: Decimal
    trueup: Decimal
    plan_id: str | None
    plan_version: int | None
    quota: Decimal | None
    attainment_before: Decimal | None
    attainment_after: Decimal | None
    tier_before: str | None
    tier_after: str | None
    notes: list[str]


def check(settings: CommissionSettings, data: WhatIfRequest) -> str:
    """The same limits a real payment meets; returns the currency to quote in."""
    if data.amount > settings.max_amount:
        raise Unprocessable(
            f"Amount exceeds the largest accepted payment ({settings.max_amount}).",
            field="amount",
        )
    currency = data.currency or settings.currency
    if currency != settings.currency:
        raise Unprocessable(
            f"Currency {currency} does not match the company currency {settings.currency}.",
            field="currency",
        )
    return currency


def _pct(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.0001"))


async def what_if(
    session: AsyncSession,
    settings: CommissionSettings,
    principal: Principal,
    employee_id: str,
    data: WhatIfRequest,
    *,
    now: dt.datetime | None = None,
) -> WhatIfResult:
    """Price the person's period with one more credit; visible like the statement."""
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_pay(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    currency = check(settings, data)
    moment = data.paid_at or now or utcnow()
    period = await pricing.open_period(
        session, employee_id, business_month(moment, settings.timezone)
    )
    inputs = await snapshot.pricing_inputs(session, settings, person, period)
    rules = inputs.plan.rules
    basis = data.margin if rules.measure == "margin" and data.margin is not None else data.amount
    extra = engine.Credit(
        credit_id="what-if",
        deal_id="what-if",
        kind="payment" if rules.basis == "collected" else "booking",
        basis=basis,
        occurred_at=moment,
        deal_closed_at=moment,
        product_line=data.product_line,
    )
    try:
        before, after, line = engine.what_if(
            rules,
            inputs.credits,
            extra,
            quota=inputs.quota,
            kpi_score=inputs.kpi_score,
            rule_name=inputs.plan.rule_name,
        )
    except engine.PricingError as exc:
        raise Unprocessable(f"The plan cannot price this period: {exc}.") from exc
    return WhatIfResult(
        employee_id=employee_id,
        period=period,
        currency=currency,
        amount=data.amount,
        current_total=before.total,
        basis_total=before.basis_total,
        new_basis_total=after.basis_total,
        estimated_commission=after.total - before.total,
        new_total=after.total,
        rate=line.rate,
        rule=line.rule,
        own=line.own,
        trueup=after.total - before.total - line.own,
        plan_id=inputs.plan.plan_id,
        plan_version=inputs.plan.version,
        quota=inputs.quota,
        attainment_before=_pct(before.attainment),
        attainment_after=_pct(after.attainment),
        tier_before=before.tier,
        tier_after=after.tier,
        notes=list(line.notes),
    )
