"""Event handlers of the commission service (idempotent through the inbox and credit ids)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import repricing, rewards, service
from zhanli_commission.commissions.repricing import Fact
from zhanli_commission.sales import service as sales
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.base import EventContract
from zhanli_shared.events.contracts.directory import EmployeeUpserted
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

SALES_FACTS: tuple[type[EventContract], ...] = (PaymentReceived, RefundIssued, DealCancelled)


async def credit_fact_events(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    items: list[tuple[Any, CloudEvent]],
) -> int:
    """Sales facts from the bus: recorded (or recognised as recorded) by the same use case
    as the API's, then credited and priced; a fact whose deal has not arrived is parked.
    A fact the rules refuse raises: the consumer dead-letters it with the reason."""
    recorded = await sales.record_fact_events(
        session, publisher, settings, [(event, envelope.source) for event, envelope in items]
    )
    facts: list[Fact] = []
    for (event, envelope), fact in zip(items, recorded, strict=True):
        if fact is None:
            facts.append(_unrecorded(event, envelope))
        elif fact.amount != 0:
            facts.append(
                Fact(
                    fact.deal_id,
                    fact.kind,
                    fact.fact_id,
                    fact.amount,
                    fact.occurred_at,
                    envelope.id,
                )
            )
    return await repricing.apply_facts(session, publisher, settings, facts)


def _unrecorded(event: Any, envelope: CloudEvent) -> Fact:
    """A fact whose deal is unknown, as it is parked: with its event, recorded by the same
    rules when the deal arrives (``service.apply_deal``)."""
    parked = {"payload": event.model_dump(mode="json"), "source": envelope.source}
    if isinstance(event, PaymentReceived):
        kind, fact_id, amount, at = "payment", event.payment_id, event.amount, event.paid_at
    elif isinstance(event, RefundIssued):
        kind, fact_id, amount, at = "refund", event.refund_id, -event.amount, event.refunded_at
    else:
        kind, fact_id, amount, at = (
            "cancellation",
            event.deal_id,
            -event.unpaid_amount,
            event.cancelled_at,
        )
    return Fact(event.deal_id, kind, fact_id, amount, at, envelope.id, event=parked)


def _register_sales_fact(
    registry: HandlerRegistry,
    publisher: Publisher,
    settings: CommissionSettings,
    contract: type[EventContract],
) -> None:
    """The hot path: a run of the contract's events is recorded, credited and priced
    together, one transaction per run (``on_batch``); one event alone is the runner's
    fallback (``on``), and the path by which a refused fact reaches the dead-letter topic."""

    @registry.on(contract)
    async def one(session: AsyncSession, event: Any, envelope: CloudEvent) -> None:
        await credit_fact_events(session, publisher, settings, [(event, envelope)])

    @registry.on_batch(contract)
    async def run(session: AsyncSession, items: list[tuple[Any, CloudEvent]]) -> None:
        await credit_fact_events(session, publisher, settings, items)


def register(registry: HandlerRegistry, publisher: Publisher, settings: CommissionSettings) -> None:
    """Every event the commission service consumes, the directory's included."""

    @registry.on(DealRecorded)
    async def on_deal_recorded(
        session: AsyncSession, event: DealRecorded, envelope: CloudEvent
    ) -> None:
        await service.apply_deal(session, publisher, settings, event, envelope)

    for contract in SALES_FACTS:
        _register_sales_fact(registry, publisher, settings, contract)

    @registry.on(EmployeeUpserted)
    async def on_employee(
        session: AsyncSession, event: EmployeeUpserted, envelope: CloudEvent
    ) -> None:
        """The directory projection; a person it did not know yet is priced now (their
        credits, and their manager's override on them)."""
        known = await sales.people.get(session, event.employee_id) is not None
        await sales.people.on_employee_upserted(session, event, envelope)
        if not known:
            await service.price_on_arrival(
                session, publisher, settings, event.employee_id, cause_event_id=envelope.id
            )

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
        await rewards.record_signal(
            session,
            publisher,
            settings,
            event.employee_id,
            rewards.iso_week_period(event.week),
            skill=_rate(event.improvement),
            cause_event_id=envelope.id,
        )

    @registry.on(PerformanceGrowthMeasured)
    async def on_growth(
        session: AsyncSession, event: PerformanceGrowthMeasured, envelope: CloudEvent
    ) -> None:
        await rewards.record_signal(
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
