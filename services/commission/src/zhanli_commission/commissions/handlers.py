"""Event handlers of the commission service (idempotent through the inbox and credit ids)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import batch, extras, service
from zhanli_commission.commissions.batch import Fact
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.base import EventContract
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated, PerformanceGrowthMeasured
from zhanli_shared.events.contracts.learning import SkillImprovementMeasured
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
)
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher

# Each sales fact event as the ledger's fact (None: nothing to credit).
SALES_FACTS: dict[type[EventContract], Callable[[Any, str], Fact | None]] = {
    PaymentReceived: lambda e, event_id: Fact(
        e.deal_id, "payment", e.payment_id, e.amount, e.paid_at, event_id
    ),
    RefundIssued: lambda e, event_id: Fact(
        e.deal_id, "refund", e.refund_id, -e.amount, e.refunded_at, event_id
    ),
    DealCancelled: lambda e, event_id: (
        Fact(e.deal_id, "cancellation", e.deal_id, -e.unpaid_amount, e.cancelled_at, event_id)
        if e.unpaid_amount > 0
        else None
    ),
}


def _register_sales_fact(
    registry: HandlerRegistry,
    publisher: Publisher,
    settings: CommissionSettings,
    contract: type[EventContract],
    to_fact: Callable[[Any, str], Fact | None],
) -> None:
    """The hot path: a run of the contract's events is credited and priced together, one
    transaction per run (``on_batch``); one event alone is the runner's fallback (``on``)."""

    @registry.on(contract)
    async def one(session: AsyncSession, event: Any, envelope: CloudEvent) -> None:
        fact = to_fact(event, envelope.id)
        if fact is not None:
            await batch.apply_facts(session, publisher, settings, [fact])

    @registry.on_batch(contract)
    async def run(session: AsyncSession, items: list[tuple[Any, CloudEvent]]) -> None:
        facts = [f for event, env in items if (f := to_fact(event, env.id)) is not None]
        await batch.apply_facts(session, publisher, settings, facts)


def register(registry: HandlerRegistry, publisher: Publisher, settings: CommissionSettings) -> None:
    @registry.on(DealRecorded)
    async def on_deal_recorded(
        session: AsyncSession, event: DealRecorded, envelope: CloudEvent
    ) -> None:
        await service.apply_deal(session, publisher, settings, event, envelope.id)

    for contract, to_fact in SALES_FACTS.items():
        _register_sales_fact(registry, publisher, settings, contract, to_fact)

    @registry.on(KpiScoreUpdated)
    async def on_kpi_score(
        session: AsyncSession, event: KpiScoreUpdated, envelope: CloudEvent
    ) -> None:
        await service.apply_kpi_score(
            session,
            publisher,
            settings,
            employee_id=event.employee_id,
            period=event.period,
            score=event.score,
            calculated_at=event.calculated_at,
            source_event_id=envelope.id,
        )

    @registry.on(SkillImprovementMeasured)
    async def on_skill_improvement(
        session: AsyncSession, event: SkillImprovementMeasured, envelope: CloudEvent
    ) -> None:
        await extras.record_signal(
            session,
            publisher,
            settings,
            event.employee_id,
            extras.iso_week_period(event.week),
            skill=_rate(event.improvement),
            cause_event_id=envelope.id,
        )

    @registry.on(PerformanceGrowthMeasured)
    async def on_growth(
        session: AsyncSession, event: PerformanceGrowthMeasured, envelope: CloudEvent
    ) -> None:
        await extras.record_signal(
            session,
            publisher,
            settings,
            event.employee_id,
            f"{event.day:%Y-%m}",
            growth=_rate(event.growth),
            cause_event_id=envelope.id,
        )


def _rate(value: Decimal) -> Decimal:
    """Signals are kept to six decimals (rounded once, half-up)."""
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
