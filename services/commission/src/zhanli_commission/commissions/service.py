"""Real-time commission: every payment event recomputes the person's period position."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import repository
from zhanli_commission.commissions.models import CommissionLine, PeriodTotal
from zhanli_commission.core.rates import flat_rate_commission
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.contracts.sales import PaymentReceived
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import business_month

FLAT_RULE = "flat_rate_on_collected"


async def apply_payment(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    payment: PaymentReceived,
    source_event_id: str,
) -> CommissionLine | None:
    """Earn commission on money collected. A payment already priced changes nothing."""
    if await repository.line_for_payment(session, payment.payment_id) is not None:
        return None
    period = business_month(payment.paid_at, settings.timezone)
    rate = settings.flat_rate
    amount = flat_rate_commission(payment.amount, rate, rounding=settings.rounding)
    now = utcnow()
    line = CommissionLine(
        commission_id=str(uuid.uuid4()),
        salesperson_id=payment.salesperson_id,
        period=period,
        deal_id=payment.deal_id,
        payment_id=payment.payment_id,
        basis_amount=payment.amount,
        rate=rate,
        amount=amount,
        currency=payment.currency,
        rule=FLAT_RULE,
        source_event_id=source_event_id,
        occurred_at=payment.paid_at,
        calculated_at=now,
    )
    session.add(line)
    total = await repository.period_total(session, payment.salesperson_id, period, for_update=True)
    if total is None:
        total = PeriodTotal(
            salesperson_id=payment.salesperson_id,
            period=period,
            total=Decimal(0),
            basis_total=Decimal(0),
            lines=0,
            currency=payment.currency,
            updated_at=now,
        )
        session.add(total)
    total.total += amount
    total.basis_total += payment.amount
    total.lines += 1
    total.updated_at = now
    await session.flush()
    await publisher.publish(
        session,
        CommissionCalculated(
            commission_id=line.commission_id,
            salesperson_id=line.salesperson_id,
            deal_id=line.deal_id,
            payment_id=line.payment_id,
            period=period,
            basis_amount=line.basis_amount,
            rate=rate,
            delta=amount,
            period_total=total.total,
            currency=line.currency,
            rule=FLAT_RULE,
            calculated_at=now,
        ),
    )
    return line
