"""The audit service consumes every offered topic and enqueues a delivery per matching active
subscription, in the consumer's transaction (a redelivered event finds its inbox row;
an event already enqueued for a subscription is skipped too)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_audit.webhooks import core, service
from zhanli_shared.events.consumer import Handler, HandlerRegistry
from zhanli_shared.events.contracts.base import all_contracts
from zhanli_shared.events.envelope import CloudEvent


def _chained(previous: Handler | None) -> Handler:
    async def on_event(session: AsyncSession, payload: Any, envelope: CloudEvent) -> None:
        if previous is not None:  # e.g. the audit log's own handler
            await previous(session, payload, envelope)
        await service.enqueue(session, envelope)

    return on_event


def register(registry: HandlerRegistry, blocked_topics: list[str]) -> None:
    """Register after the service's other handlers: a topic that already has one gets
    both (the existing handler first, then the webhook enqueue)."""
    for topic, contract in all_contracts().items():
        if core.matches(blocked_topics, topic):
            continue
        existing = registry.handlers.get(topic)
        registry.handlers[topic] = (contract, _chained(existing[1] if existing else None))
