"""Keep revenue positions current from deal and payment events."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.revenue import repository
from zhanli_kpi.revenue.models import RevenuePosition
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.money import business_month


async def _position(
    session: AsyncSession, employee_id: str, period: str, currency: str
) -> RevenuePosition:
    pos = await repository.position(session, employee_id, period, for_update=True)
    if pos is None:
        pos = RevenuePosition(
            employee_id=employee_id,
            period=period,
            booked=Decimal(0),
            collected=Decimal(0),
            deals=0,
            payments=0,
            currency=currency,
            updated_at=utcnow(),
        )
        session.add(pos)
    return pos


async def apply_deal(session: AsyncSession, deal: DealRecorded, tz: str) -> None:
    pos = await _position(
        session, deal.salesperson_id, business_month(deal.closed_at, tz), deal.currency
    )
    pos.booked += deal.amount
    pos.deals += 1
    pos.updated_at = utcnow()


async def apply_payment(session: AsyncSession, payment: PaymentReceived, tz: str) -> None:
    pos = await _position(
        session, payment.salesperson_id, business_month(payment.paid_at, tz), payment.currency
    )
    pos.collected += payment.amount
    pos.payments += 1
    pos.updated_at = utcnow()
