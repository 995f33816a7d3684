"""Event handlers of the commission service (idempotent through the inbox)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import service
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.sales import PaymentReceived
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher


def register(registry: HandlerRegistry, publisher: Publisher, settings: CommissionSettings) -> None:
    @registry.on(PaymentReceived)
    async def on_payment_received(
        session: AsyncSession, event: PaymentReceived, envelope: CloudEvent
    ) -> None:
        await service.apply_payment(session, publisher, settings, event, envelope.id)
