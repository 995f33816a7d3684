"""Keep revenue positions current from the sales events (deals, payments, refunds,
cancellations). Each use case returns the changes it made as ``SalesDelta``s, which the
KPI facts take as indicator facts (``facts.sales``).

- A deal is credited to the people of its split by share (to its owner without one); its
  payments, refunds and cancellation follow the same shares.
- Positions are per currency: amounts in different currencies are never added.
- A refund reduces collected, a cancellation reduces booked by the unpaid amount, in the
  period they happen in (a past period is never rewritten).
- A fact is applied once by its business id; a cancellation whose deal has not arrived is
  parked and applied when it does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.revenue import repository
from zhanli_kpi.revenue.models import (
    ParkedCancellation,
    RevenueCustomer,
    RevenueDeal,
    RevenueFact,
    RevenuePosition,
)
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
)
from zhanli_shared.money import business_month, round_money

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SalesDelta:
    """One person's change in one period and currency: ``kind`` is booked, collected,
    deal, repeat_deal and new_client (counts), margin."""

    employee_id: str
    period: str
    currency: str
    kind: str
    amount: Decimal
    at: dt.datetime
    source_id: str


def allocate(amount: Decimal, shares: dict[str, str]) -> list[tuple[str, Decimal]]:
    """``amount`` split by percent shares, rounded to the fen; the rounding residue goes to
    the first person so the parts add up exactly."""
    parts = [
        (person, round_money(amount * Decimal(share) / HUNDRED)) for person, share in shares.items()
    ]
    residue = amount - sum((p for _, p in parts), Decimal(0))
    if parts and residue:
        first, value = parts[0]
        parts[0] = (first, value + residue)
    return parts


async def _position(
    session: AsyncSession, employee_id: str, period: str, currency: str
) -> RevenuePosition:
    pos = await repository.position(session, employee_id, period, currency, for_update=True)
    if pos is None:
        pos = RevenuePosition(
            employee_id=employee_id,
            period=period,
            currency=currency,
            booked=Decimal(0),
            collected=Decimal(0),
            refunded=Decimal(0),
            cancelled=Decimal(0),
            deals=0,
            payments=0,
            refunds=0,
            cancellations=0,
            updated_at=utcnow(),
        )
        session.add(pos)
        await session.flush()
    return pos


async def _first_time(session: AsyncSession, key: str) -> bool:
    if await session.get(RevenueFact, key) is not None:
        return False
    session.add(RevenueFact(fact_key=key, applied_at=utcnow()))
    return True


async def _shares(session: AsyncSession, deal_id: str, owner: str) -> dict[str, str]:
    known = await repository.deal(session, deal_id)
    return dict(known.shares) if known is not None else {owner: "100"}


async def apply_deal(session: AsyncSession, deal: DealRecorded, tz: str) -> list[SalesDelta]:
    if await repository.deal(session, deal.deal_id) is not None:
        return []  # the same deal sent again
    shares = (
        {s.salesperson_id: str(s.share) for s in deal.splits}
        if deal.splits
        else {deal.salesperson_id: "100"}
    )
    period = business_month(deal.closed_at, tz)
    deltas: list[SalesDelta] = []
    margins = dict(allocate(deal.margin, shares)) if deal.margin is not None else {}
    for person, part in allocate(deal.amount, shares):
        repeat = await repository.has_customer(session, person, deal.customer_name)
        if not repeat:
            deltas.append(
                SalesDelta(
                    person,
                    period,
                    deal.currency,
                    "new_client",
                    Decimal(1),
                    deal.closed_at,
                    deal.deal_id,
                )
            )
            session.add(
                RevenueCustomer(
                    employee_id=person,
                    customer_name=deal.customer_name[:200],
                    first_deal_id=deal.deal_id,
                    first_at=deal.closed_at,
                )
            )
        pos = await _position(session, person, period, deal.currency)
        pos.booked += part
        pos.deals += 1
        pos.updated_at = utcnow()
        delta = SalesDelta(
            person, period, deal.currency, "booked", part, deal.closed_at, deal.deal_id
        )
        deltas.append(delta)
        deltas.append(
            SalesDelta(
                person, period, deal.currency, "deal", Decimal(1), deal.closed_at, deal.deal_id
            )
        )
        if repeat:
            deltas.append(
                SalesDelta(
                    person,
                    period,
                    deal.currency,
                    "repeat_deal",
                    Decimal(1),
                    deal.closed_at,
                    deal.deal_id,
                )
            )
        if person in margins:
            deltas.append(
                SalesDelta(
                    person,
                    period,
                    deal.currency,
                    "margin",
                    margins[person],
                    deal.closed_at,
                    deal.deal_id,
                )
            )
    session.add(
        RevenueDeal(
            deal_id=deal.deal_id,
            salesperson_id=deal.salesperson_id,
            customer_name=deal.customer_name[:200],
            currency=deal.currency,
            amount=deal.amount,
            period=period,
            shares=shares,
            cancelled=False,
            closed_at=deal.closed_at,
        )
    )
    await session.flush()
    parked = await repository.parked(session, deal.deal_id)
    if parked is not None:
        await session.delete(parked)
        await session.flush()
        deltas += await apply_cancellation(
            session, DealCancelled.model_validate(parked.payload), tz
        )
    return deltas


async def apply_payment(
    session: AsyncSession, payment: PaymentReceived, tz: str
) -> list[SalesDelta]:
    if not await _first_time(session, f"payment:{payment.payment_id}"):
        return []
    period = business_month(payment.paid_at, tz)
    shares = await _shares(session, payment.deal_id, payment.salesperson_id)
    deltas = []
    for person, part in allocate(payment.amount, shares):
        pos = await _position(session, person, period, payment.currency)
        pos.collected += part
        pos.payments += 1
        pos.updated_at = utcnow()
        deltas.append(
            SalesDelta(
                person,
                period,
                payment.currency,
                "collected",
                part,
                payment.paid_at,
                payment.payment_id,
            )
        )
    return deltas


async def apply_refund(session: AsyncSession, refund: RefundIssued, tz: str) -> list[SalesDelta]:
    if not await _first_time(session, f"refund:{refund.refund_id}"):
        return []
    period = business_month(refund.refunded_at, tz)
    shares = await _shares(session, refund.deal_id, refund.salesperson_id)
    deltas = []
    for person, part in allocate(refund.amount, shares):
        pos = await _position(session, person, period, refund.currency)
        pos.collected -= part
        pos.refunded += part
        pos.refunds += 1
        pos.updated_at = utcnow()
        deltas.append(
            SalesDelta(
                person,
                period,
                refund.currency,
                "collected",
                -part,
                refund.refunded_at,
                refund.refund_id,
            )
        )
    return deltas


async def apply_cancellation(
    session: AsyncSession, cancel: DealCancelled, tz: str
) -> list[SalesDelta]:
    deal = await repository.deal(session, cancel.deal_id)
    if deal is None:
        if await repository.parked(session, cancel.deal_id) is None:
            session.add(
                ParkedCancellation(
                    deal_id=cancel.deal_id,
                    payload=cancel.model_dump(mode="json"),
                    parked_at=utcnow(),
                )
            )
        return []
    if deal.cancelled or not await _first_time(session, f"cancellation:{cancel.deal_id}"):
        return []
    deal.cancelled = True
    period = business_month(cancel.cancelled_at, tz)
    deltas = []
    for person, part in allocate(cancel.unpaid_amount, dict(deal.shares)):
        pos = await _position(session, person, period, deal.currency)
        pos.booked -= part
        pos.cancelled += part
        pos.cancellations += 1
        pos.updated_at = utcnow()
        deltas.append(
            SalesDelta(
                person,
                period,
                deal.currency,
                "booked",
                -part,
                cancel.cancelled_at,
                f"cancel:{cancel.deal_id}",
            )
        )
    return deltas
