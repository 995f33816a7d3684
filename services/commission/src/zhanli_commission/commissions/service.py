"""Real-time commission: every sales fact re-prices the periods it touches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import ledger
from zhanli_commission.commissions.models import CommissionLine, ParkedFact
from zhanli_commission.plans.models import KpiScore
from zhanli_commission.sales.models import Deal, DealSplit
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.sales import DealRecorded
from zhanli_shared.events.outbox import Publisher

FLAT_RULE = "default/flat"  # the rule name of the company default plan's lines
log = structlog.get_logger(__name__)


async def apply_fact(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    *,
    deal_id: str,
    kind: str,
    fact_id: str,
    amount: Decimal,
    occurred_at: dt.datetime,
    source_event_id: str,
) -> list[CommissionLine]:
    """Credit a fact to everyone on the deal and re-price their periods."""
    deal = await session.get(Deal, deal_id)
    if deal is None:
        # A fact pushed straight onto the bus before its deal: park it until the deal
        # arrives (``apply_deal``); it is neither lost nor counted twice.
        key = f"{kind}:{fact_id}"
        if await session.get(ParkedFact, key) is None:
            session.add(
                ParkedFact(
                    fact_key=key,
                    deal_id=deal_id,
                    kind=kind,
                    fact_id=fact_id,
                    amount=amount,
                    occurred_at=occurred_at,
                    source_event_id=source_event_id,
                    parked_at=utcnow(),
                )
            )
            await session.flush()
            log.info("commission.fact_parked", fact=key, deal_id=deal_id)
        return []
    touched = await ledger.credit_fact(
        session, settings, deal, kind=kind, fact_id=fact_id, amount=amount, occurred_at=occurred_at
    )
    lines: list[CommissionLine] = []
    for person_id, period in touched:
        lines += await ledger.recompute(
            session,
            publisher,
            settings,
            person_id,
            period,
            cause_event_id=source_event_id,
            cause_credit_ids=frozenset({f"{kind}:{fact_id}:{person_id}"}),
        )
    return lines


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
) -> list[CommissionLine]:
    """A new KPI score may open or shut the accelerator gate: re-price that period."""
    row = await session.get(KpiScore, (employee_id, period))
    if row is not None and row.calculated_at > calculated_at:
        return []  # an older score arriving late changes nothing
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
    return await ledger.recompute(
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
) -> list[CommissionLine]:
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
    lines = await apply_fact(
        session,
        publisher,
        settings,
        deal_id=event.deal_id,
        kind="booking",
        fact_id=event.deal_id,
        amount=event.amount,
        occurred_at=event.closed_at,
        source_event_id=source_event_id,
    )
    stmt = (
        select(ParkedFact)
        .where(ParkedFact.deal_id == event.deal_id)
        .order_by(ParkedFact.occurred_at, ParkedFact.fact_key)
    )
    for parked in list((await session.execute(stmt)).scalars()):
        await session.delete(parked)
        await session.flush()
        lines += await apply_fact(
            session,
            publisher,
            settings,
            deal_id=parked.deal_id,
            kind=parked.kind,
            fact_id=parked.fact_id,
            amount=parked.amount,
            occurred_at=parked.occurred_at,
            source_event_id=parked.source_event_id,
        )
    return lines
