"""Real-time commission: every sales fact re-prices the periods it touches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import batch
from zhanli_commission.commissions.models import ParkedFact
from zhanli_commission.plans.models import KpiScore
from zhanli_commission.sales.models import Deal, DealSplit
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.sales import DealRecorded
from zhanli_shared.events.outbox import Publisher

FLAT_RULE = "default/flat"  # the rule name of the company default plan's lines
log = structlog.get_logger(__name__)


async def apply_kpi_score(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    *,
    employee_id: str,
    period: str,
    score: Decimal,
    calculated_at: dt.datetime,
    source_event_id: str,
) -> int:
    """A new KPI score may open or shut the accelerator gate: re-price that period."""
    row = await session.get(KpiScore, (employee_id, period))
    if row is not None and row.calculated_at > calculated_at:
        return 0  # an older score arriving late changes nothing
    if row is None:
        session.add(
            KpiScore(
                employee_id=employee_id, period=period, score=score, calculated_at=calculated_at
            )
        )
    else:
        row.score = score
        row.calculated_at = calculated_at
    await session.flush()
    return await batch.recompute(
        session,
        publisher,
        settings,
        employee_id,
        period,
        cause_event_id=source_event_id,
        reason=f"KPI score {score} received at {utcnow().isoformat(timespec='seconds')}",
    )


async def apply_deal(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    event: DealRecorded,
    source_event_id: str,
) -> int:
    """A deal: credit its booking, then apply any facts that arrived before it.

    A deal recorded through this service's API is already stored; one pushed straight onto
    the bus by another system is stored here first."""
    if await session.get(Deal, event.deal_id) is None:
        session.add(
            Deal(
                deal_id=event.deal_id,
                salesperson_id=event.salesperson_id,
                customer_name=event.customer_name,
                amount=event.amount,
                collected=Decimal("0.00"),
                currency=event.currency,
                product_line=event.product_line,
                closed_at=event.closed_at,
                source=event.source[:20],
                created_at=utcnow(),
                margin=event.margin,
                refunded=Decimal("0.00"),
                status="open",
            )
        )
        await session.flush()
        for i, split in enumerate(event.splits or []):
            session.add(
                DealSplit(
                    deal_id=event.deal_id,
                    salesperson_id=split.salesperson_id,
                    share=split.share,
                    position=i,
                )
            )
        await session.flush()
    facts = [
        batch.Fact(
            event.deal_id, "booking", event.deal_id, event.amount, event.closed_at, source_event_id
        )
    ]
    stmt = (
        select(ParkedFact)
        .where(ParkedFact.deal_id == event.deal_id)
        .order_by(ParkedFact.occurred_at, ParkedFact.fact_key)
    )
    for parked in list((await session.execute(stmt)).scalars()):
        await session.delete(parked)
        facts.append(
            batch.Fact(
                parked.deal_id,
                parked.kind,
                parked.fact_id,
                parked.amount,
                parked.occurred_at,
                parked.source_event_id,
            )
        )
    await session.flush()
    return await batch.apply_facts(session, publisher, settings, facts)
