"""Sales events -> revenue positions (idempotent through the inbox)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.revenue import service
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.events.envelope import CloudEvent


def register(registry: HandlerRegistry, settings: KpiSettings) -> None:
    @registry.on(DealRecorded)
    async def on_deal(session: AsyncSession, event: DealRecorded, envelope: CloudEvent) -> None:
        await service.apply_deal(session, event, settings.timezone)

    @registry.on(PaymentReceived)
    async def on_payment(
        session: AsyncSession, event: PaymentReceived, envelope: CloudEvent
    ) -> None:
        await service.apply_payment(session, event, settings.timezone)
