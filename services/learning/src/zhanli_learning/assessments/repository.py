"""Every assessment query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.assessments.models import Assessment
from zhanli_learning.core.progress import Score


async def of_person(session: AsyncSession, employee_id: str) -> Sequence[Assessment]:
    stmt = (
        select(Assessment)
        .where(Assessment.employee_id == employee_id)
        .order_by(Assessment.assessed_on, Assessment.created_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def scores(session: AsyncSession, employee_id: str) -> list[Score]:
    return [
        Score(a.skill_id, a.score, a.assessed_on) for a in await of_person(session, employee_id)
    ]


async def latest(session: AsyncSession, employee_id: str) -> dict[str, Assessment]:
    out: dict[str, Assessment] = {}
    for a in await of_person(session, employee_id):
        out[a.skill_id] = a  # ordered by date then entry: the last one wins
    return out
