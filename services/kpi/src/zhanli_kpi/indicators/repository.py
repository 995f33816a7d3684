from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.indicators.models import Indicator


async def all_indicators(session: AsyncSession) -> dict[str, Indicator]:
    rows = (await session.execute(select(Indicator).order_by(Indicator.code))).scalars()
    return {r.code: r for r in rows}


async def get(session: AsyncSession, code: str) -> Indicator | None:
    return await session.get(Indicator, code)
