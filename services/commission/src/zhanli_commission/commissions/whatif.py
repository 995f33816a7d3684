"""Commission what-if: "if this payment came in, what would I earn?" Nothing is written.

The estimate goes through the same pure function, rate and rounding as the real path
(``service.apply_payment``): one line's commission is ``flat_rate_commission(amount,
settings.flat_rate, rounding=settings.rounding)`` and the period total grows by exactly that
line. ``estimate`` is pure (no I/O) so that tiered plans can replace the line rule while the
route, the authorisation and the response shape stay as they are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import repository
from zhanli_commission.commissions.service import FLAT_RULE
from zhanli_commission.core.rates import flat_rate_commission
from zhanli_commission.sales.schemas import Currency, PositiveMoney
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Forbidden, NotFound, Unprocessable
from zhanli_shared.money import business_month

ZERO = Decimal("0.00")


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    currency: Currency | None = None
    paid_at: AwareDatetime | None = None


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


@dataclass(frozen=True)
class Position:
    """A person's standing in one period before the hypothetical payment."""

    total: Decimal = ZERO
    basis_total: Decimal = ZERO


@dataclass(frozen=True)
class Estimate:
    estimated_commission: Decimal
    new_total: Decimal
    new_basis_total: Decimal
    rate: Decimal
    rule: str


def estimate(
    position: Position, amount: Decimal, *, rate: Decimal, rounding: str = "half_up"
) -> Estimate:
    """Pure: the commission one more payment of ``amount`` earns on top of ``position``.

    The flat plan ignores the position; a tiered plan reads ``position.basis_total`` to
    find the tier the payment falls in (the commission issue's extension point).
    """
    line = flat_rate_commission(amount, rate, rounding=rounding)
    return Estimate(
        estimated_commission=line,
        new_total=position.total + line,
        new_basis_total=position.basis_total + amount,
        rate=rate,
        rule=FLAT_RULE,
    )


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


async def what_if(
    session: AsyncSession,
    settings: CommissionSettings,
    principal: Principal,
    employee_id: str,
    data: WhatIfRequest,
    *,
    now: dt.datetime | None = None,
) -> WhatIfResult:
    """Read the person's period position and estimate; visible like the statement."""
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_pay(employee_id, person.org_path):
        raise Forbidden(
            "Commission figures are visible to the person, their managers, finance and HR only."
        )
    currency = check(settings, data)
    period = business_month(data.paid_at or now or utcnow(), settings.timezone)
    total = await repository.period_total(session, employee_id, period)
    position = Position(total.total, total.basis_total) if total else Position()
    result = estimate(position, data.amount, rate=settings.flat_rate, rounding=settings.rounding)
    return WhatIfResult(
        employee_id=employee_id,
        period=period,
        currency=currency,
        amount=data.amount,
        current_total=position.total,
        basis_total=position.basis_total,
        new_basis_total=result.new_basis_total,
        estimated_commission=result.estimated_commission,
        new_total=result.new_total,
        rate=result.rate,
        rule=result.rule,
    )
