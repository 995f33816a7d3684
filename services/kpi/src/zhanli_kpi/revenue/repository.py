from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.revenue.models import (
    ParkedCancellation,
    RevenueCustomer,
    RevenueDeal,
    RevenuePosition,
)


async def position(
    session: AsyncSession, employee_id: str, period: str, currency: str, *, for_update: bool = False
) -> RevenuePosition | None:
    stmt = select(RevenuePosition).where(
        RevenuePosition.employee_id == employee_id,
        RevenuePosition.period == period,
        RevenuePosition.currency == currency,
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def positions(session: AsyncSession, employee_id: str, period: str) -> list[RevenuePosition]:
    stmt = (
        select(RevenuePosition)
        .where(RevenuePosition.employee_id == employee_id, RevenuePosition.period == period)
        .order_by(RevenuePosition.currency)
    )
    return list((await session.execute(stmt)).scalars())


async def deal(session: AsyncSession, deal_id: str) -> RevenueDeal | None:
    return await session.get(RevenueDeal, deal_id)


async def parked(session: AsyncSession, deal_id: str) -> ParkedCancellation | None:
    return await session.get(ParkedCancellation, deal_id)


async def has_customer(session: AsyncSession, employee_id: str, customer_name: str) -> bool:
    """Whether the person closed an earlier deal with this customer (a repurchase)."""
    key = (employee_id, customer_name[:200])
    return await session.get(RevenueCustomer, key) is not None
