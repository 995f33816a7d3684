"""Every query of deals and payments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.sales.models import Deal, DealSplit, Payment


async def get_deal(session: AsyncSession, deal_id: str, *, for_update: bool = False) -> Deal | None:
    stmt = select(Deal).where(Deal.deal_id == deal_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_payment(session: AsyncSession, payment_id: str) -> Payment | None:
    return await session.get(Payment, payment_id)


async def payments_of_deal(session: AsyncSession, deal_id: str) -> list[Payment]:
    stmt = (
        select(Payment)
        .where(Payment.deal_id == deal_id)
        .order_by(Payment.paid_at, Payment.payment_id)
    )
    return list((await session.execute(stmt)).scalars())


async def splits_of(session: AsyncSession, deal_id: str) -> list[DealSplit]:
    stmt = select(DealSplit).where(DealSplit.deal_id == deal_id).order_by(DealSplit.position)
    return list((await session.execute(stmt)).scalars())
