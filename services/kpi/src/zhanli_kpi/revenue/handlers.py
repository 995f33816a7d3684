"""Sales events -> revenue positions (idempotent through the inbox and business ids); the
changes go on to the KPI facts through ``sink``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.revenue import service
from zhanli_kpi.revenue.service import SalesDelta
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
)
from zhanli_shared.events.envelope import CloudEvent

Sink = Callable[[AsyncSession, list[SalesDelta], CloudEvent], Awaitable[None]]


async def _ignore(session: AsyncSession, deltas: list[SalesDelta], envelope: CloudEvent) -> None:
    return None


def register(registry: HandlerRegistry, settings: KpiSettings, sink: Sink = _ignore) -> None:
    tz = settings.timezone

    @registry.on(DealRecorded)
    async def on_deal(session: AsyncSession, event: DealRecorded, envelope: CloudEvent) -> None:
        await sink(session, await service.apply_deal(session, event, tz), envelope)

    @registry.on(PaymentReceived)
    async def on_payment(
        session: AsyncSession, event: PaymentReceived, envelope: CloudEvent
    ) -> None:
        await sink(session, await service.apply_payment(session, event, tz), envelope)

    @registry.on(RefundIssued)
    async def on_refund(session: AsyncSession, event: RefundIssued, envelope: CloudEvent) -> None:
        await sink(session, await service.apply_refund(session, event, tz), envelope)

    @registry.on(DealCancelled)
    async def on_cancel(session: AsyncSession, event: DealCancelled, envelope: CloudEvent) -> None:
        await sink(session, await service.apply_cancellation(session, event, tz), envelope)
