"""Event handlers of the commission service (idempotent through the inbox and credit ids)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import batch, extras, service
from zhanli_commission.commissions.batch import Fact
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.events.consumer import HandlerRegistry
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


def register(registry: HandlerRegistry, publisher: Publisher, settings: CommissionSettings) -> None:
    @registry.on(DealRecorded)
    async def on_deal_recorded(
        session: AsyncSession, event: DealRecorded, envelope: CloudEvent
    ) -> None:
        await service.apply_deal(session, publisher, settings, event, envelope.id)

    @registry.on(PaymentReceived)
    async def on_payment_received(
        session: AsyncSession, event: PaymentReceived, envelope: CloudEvent
    ) -> None:
        await service.apply_fact(
            session,
            publisher,
            settings,
            deal_id=event.deal_id,
            kind="payment",
            fact_id=event.payment_id,
            amount=event.amount,
            occurred_at=event.paid_at,
            source_event_id=envelope.id,
        )

    @registry.on(RefundIssued)
    async def on_refund_issued(
        session: AsyncSession, event: RefundIssued, envelope: CloudEvent
    ) -> None:
        await service.apply_fact(
            session,
            publisher,
            settings,
            deal_id=event.deal_id,
            kind="refund",
            fact_id=event.refund_id,
            amount=-event.amount,
            occurred_at=event.refunded_at,
            source_event_id=envelope.id,
        )

    @registry.on(DealCancelled)
    async def on_deal_cancelled(
        session: AsyncSession, event: DealCancelled, envelope: CloudEvent
    ) -> None:
        if event.unpaid_amount > 0:
            await service.apply_fact(
                session,
                publisher,
                settings,
                deal_id=event.deal_id,
                kind="cancellation",
                fact_id=event.deal_id,
                amount=-event.unpaid_amount,
                occurred_at=event.cancelled_at,
                source_event_id=envelope.id,
            )

    # The hot path: a run of payments (refunds, cancellations) is credited and priced
    # together, one transaction per run; the handlers above are the one-by-one fallback.
    @registry.on_batch(PaymentReceived)
    async def on_payments(
        session: AsyncSession, items: list[tuple[PaymentReceived, CloudEvent]]
    ) -> None:
        facts = [
            Fact(e.deal_id, "payment", e.payment_id, e.amount, e.paid_at, env.id)
            for e, env in items
        ]
        await batch.apply_facts(session, publisher, settings, facts)

    @registry.on_batch(RefundIssued)
    async def on_refunds(
        session: AsyncSession, items: list[tuple[RefundIssued, CloudEvent]]
    ) -> None:
        facts = [
            Fact(e.deal_id, "refund", e.refund_id, -e.amount, e.refunded_at, env.id)
            for e, env in items
        ]
        await batch.apply_facts(session, publisher, settings, facts)

    @registry.on_batch(DealCancelled)
    async def on_cancellations(
        session: AsyncSession, items: list[tuple[DealCancelled, CloudEvent]]
    ) -> None:
        facts = [
            Fact(e.deal_id, "cancellation", e.deal_id, -e.unpaid_amount, e.cancelled_at, env.id)
            for e, env in items
            if e.unpaid_amount > 0
        ]
        await batch.apply_facts(session, publisher, settings, facts)

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
