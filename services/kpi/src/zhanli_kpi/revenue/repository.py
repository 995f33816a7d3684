from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.revenue.models import RevenuePosition


async def position(
    session: AsyncSession, employee_id: str, period: str, *, for_update: bool = False
) -> RevenuePosition | None:
    stmt = select(RevenuePosition).where(
        RevenuePosition.employee_id == employee_id, RevenuePosition.period == period
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
