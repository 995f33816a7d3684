"""The audit service appends every service's audit facts to the chain, and what the
gateway saw (sign-ins, refusals) too. Idempotent: the inbox skips a redelivered event,
and a fact already in the log is never appended twice."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_audit.audit import service
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.events.envelope import CloudEvent


def register(registry: HandlerRegistry) -> None:
    @registry.on(AuditRecorded)
    async def on_audit_recorded(
        session: AsyncSession, fact: AuditRecorded, envelope: CloudEvent
    ) -> None:
        del envelope
        await service.append(session, fact)

    @registry.on(RequestAudited)
    async def on_request_audited(
        session: AsyncSession, seen: RequestAudited, envelope: CloudEvent
    ) -> None:
        del envelope
        await service.append(session, service.from_gateway(seen))
