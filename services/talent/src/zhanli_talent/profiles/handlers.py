"""KPI scores from the KPI service: what top performers are ranked by."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated
from zhanli_shared.events.envelope import CloudEvent
from zhanli_talent.profiles import service


async def on_kpi_score(session: AsyncSession, event: KpiScoreUpdated, envelope: CloudEvent) -> None:
    await service.project_kpi(
        session, event.employee_id, event.period, float(event.score), event.calculated_at
    )


def register(registry: HandlerRegistry) -> None:
    registry.on(KpiScoreUpdated)(on_kpi_score)
