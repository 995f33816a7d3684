"""Every path query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.paths.models import LearningPath, PathChange, PathItem


async def path_of(session: AsyncSession, employee_id: str) -> LearningPath | None:
    stmt = select(LearningPath).where(LearningPath.employee_id == employee_id)
    return (await session.execute(stmt)).scalars().first()


async def items(session: AsyncSession, path_id: str, *, removed: bool = False) -> list[PathItem]:
    stmt = select(PathItem).where(PathItem.path_id == path_id).order_by(PathItem.position)
    rows = (await session.execute(stmt)).scalars().all()
    return [i for i in rows if removed or i.status != "removed"]


async def changes(session: AsyncSession, path_id: str) -> Sequence[PathChange]:
    stmt = select(PathChange).where(PathChange.path_id == path_id).order_by(PathChange.at)
    return (await session.execute(stmt)).scalars().all()


async def open_items_due_before(session: AsyncSession, day: dt.date) -> Sequence[PathItem]:
    stmt = select(PathItem).where(
        PathItem.due_on < day,
        PathItem.status.in_(("planned", "started")),
    )
    return (await session.execute(stmt)).scalars().all()
