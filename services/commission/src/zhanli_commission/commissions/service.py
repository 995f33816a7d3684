"""Real-time commission: every sales fact re-prices the periods it touches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import structlog
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import repricing, rewards
from zhanli_commission.commissions.models import Credit, ParkedFact, PeriodTotal
from zhanli_commission.db import people_table
from zhanli_commission.plans.models import KpiScore
from zhanli_commission.sales import service as sales
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import table_of, utcnow
from zhanli_shared.errors import Conflict, Unprocessable
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
)
from zhanli_shared.events.envelope import CloudEvent
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
    return await repricing.recompute(
        session,
        publisher,
        settings,
        employee_id,
        period,
        cause_event_id=source_event_id,
        reason=f"KPI score {score} received at {utcnow().isoformat(timespec='seconds')}",
    )


async def price_on_arrival(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person_id: str,
    *,
    cause_event_id: str,
) -> int:
    """A person the directory did not know when their deals and payments came in: those
    were credited but could not be priced. Price every period of theirs that has credits
    and no period position yet, and give their manager's override on what they had earned
    before the manager arrived; returns the lines appended."""
    totals = table_of(PeriodTotal)
    stmt = (
        select(Credit.period)
        .where(
            Credit.salesperson_id == person_id,
            ~exists().where(
                totals.c.salesperson_id == Credit.salesperson_id,
                totals.c.period == Credit.period,
            ),
        )
        .distinct()
    )
    periods = sorted((await session.execute(stmt)).scalars())
    reason = f"priced when {person_id} joined the directory"
    done = await repricing.reprice(
        session,
        publisher,
        settings,
        {(person_id, period): [] for period in periods},
        cause_event_id=cause_event_id,
        reason=reason,
    )
    lines = done.lines
    reports = (
        await session.execute(
            select(people_table.c.employee_id).where(
                people_table.c.manager_id == person_id,
                people_table.c.employee_id != person_id,
            )
        )
    ).scalars()
    for report_id in sorted(reports):
        report = await sales.people.get(session, report_id)
        open_periods = (
            await session.execute(
                select(PeriodTotal.period).where(
                    PeriodTotal.salesperson_id == report_id,
                    PeriodTotal.status == "open",
                    PeriodTotal.lines > 0,
                )
            )
        ).scalars()
        for period in sorted(open_periods):
            if report is not None and await rewards.apply_manager_override(
                session, publisher, settings, report, period, cause_event_id=cause_event_id
            ):
                lines += 1
    if lines:
        log.info("commission.priced_on_arrival", person_id=person_id, lines=lines)
    return lines


async def apply_deal(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    event: DealRecorded,
    envelope: CloudEvent,
) -> int:
    """A deal: recorded by the sales rules (the event of one recorded through the API is
    the same deal), its booking credited, then the facts that arrived before it recorded
    by the same rules and applied. A parked fact the rules refuse stays parked with the
    reason (its own event was consumed long ago: it cannot be dead-lettered now)."""
    await sales.record_deal_event(session, publisher, settings, event, actor=envelope.source)
    facts = [
        repricing.Fact(
            event.deal_id, "booking", event.deal_id, event.amount, event.closed_at, envelope.id
        )
    ]
    stmt = (
        select(ParkedFact)
        .where(ParkedFact.deal_id == event.deal_id, ParkedFact.refusal.is_(None))
        .order_by(ParkedFact.occurred_at, ParkedFact.fact_key)
    )
    for parked in list((await session.execute(stmt)).scalars()):
        fact_event, source = _parked_event(parked, event)
        try:
            async with session.begin_nested():
                [recorded] = await sales.record_fact_events(
                    session, publisher, settings, [(fact_event, source)]
                )
        except (Unprocessable, Conflict) as exc:
            parked.refusal = exc.detail[:500]
            log.error(
                "commission.parked_fact_refused",
                fact=parked.fact_key,
                deal_id=parked.deal_id,
                reason=exc.detail,
            )
            continue
        await session.delete(parked)
        if recorded is not None and recorded.amount != 0:
            facts.append(
                repricing.Fact(
                    recorded.deal_id,
                    recorded.kind,
                    recorded.fact_id,
                    recorded.amount,
                    recorded.occurred_at,
                    parked.source_event_id,
                )
            )
    await session.flush()
    return await repricing.apply_facts(session, publisher, settings, facts)


def _parked_event(parked: ParkedFact, deal: DealRecorded) -> tuple[sales.SalesFactEvent, str]:
    """The parked fact's event and source (a fact parked before events were kept: rebuilt
    from its columns, in the deal's currency)."""
    kinds: dict[str, type[sales.SalesFactEvent]] = {
        "payment": PaymentReceived,
        "refund": RefundIssued,
        "cancellation": DealCancelled,
    }
    if parked.event is not None:
        payload = parked.event["payload"]
        return kinds[parked.kind].model_validate(payload), parked.event.get("source", "bus")
    common = {"deal_id": parked.deal_id, "salesperson_id": deal.salesperson_id, "source": "bus"}
    if parked.kind == "payment":
        return (
            PaymentReceived(
                payment_id=parked.fact_id,
                amount=parked.amount,
                currency=deal.currency,
                paid_at=parked.occurred_at,
                **common,
            ),
            "bus",
        )
    if parked.kind == "refund":
        return (
            RefundIssued(
                refund_id=parked.fact_id,
                amount=-parked.amount,
                currency=deal.currency,
                refunded_at=parked.occurred_at,
                **common,
            ),
            "bus",
        )
    return (
        DealCancelled(cancelled_at=parked.occurred_at, unpaid_amount=-parked.amount, **common),
        "bus",
    )
