"""Separations from the directory: a hire's outcome (retained or not, and why)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.directory import EmployeeSeparated
from zhanli_shared.events.envelope import CloudEvent
from zhanli_talent.requisitions import service


async def on_separated(
    session: AsyncSession, event: EmployeeSeparated, envelope: CloudEvent
) -> None:
    await service.record_separation(
        session, event.employee_id, event.separated_on, event.reason.value
    )


def register(registry: HandlerRegistry) -> None:
    registry.on(EmployeeSeparated)(on_separated)
