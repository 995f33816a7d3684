"""Every query of commission lines and period totals."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions.models import CommissionLine, PeriodTotal


async def line_for_payment(session: AsyncSession, payment_id: str) -> CommissionLine | None:
    stmt = select(CommissionLine).where(CommissionLine.payment_id == payment_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def period_total(
    session: AsyncSession, salesperson_id: str, period: str, *, for_update: bool = False
) -> PeriodTotal | None:
    stmt = select(PeriodTotal).where(
        PeriodTotal.salesperson_id == salesperson_id, PeriodTotal.period == period
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def lines_of_period(
    session: AsyncSession, salesperson_id: str, period: str
) -> list[CommissionLine]:
    stmt = (
        select(CommissionLine)
        .where(CommissionLine.salesperson_id == salesperson_id, CommissionLine.period == period)
        .order_by(
            CommissionLine.occurred_at, CommissionLine.calculated_at, CommissionLine.commission_id
        )
    )
    return list((await session.execute(stmt)).scalars())
