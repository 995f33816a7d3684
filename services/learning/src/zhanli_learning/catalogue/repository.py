"""Every catalogue query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.catalogue.models import Course, JobFamily, Skill


async def skills(session: AsyncSession) -> Sequence[Skill]:
    return (await session.execute(select(Skill).order_by(Skill.skill_id))).scalars().all()


async def skill_ids(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(Skill.skill_id))).scalars().all())


async def courses(session: AsyncSession, *, active_only: bool = False) -> Sequence[Course]:
    stmt = select(Course).order_by(Course.course_id)
    if active_only:
        stmt = stmt.where(Course.active.is_(True))
    return (await session.execute(stmt)).scalars().all()


async def prerequisite_map(session: AsyncSession) -> dict[str, set[str]]:
    rows = (await session.execute(select(Course.course_id, Course.prerequisites))).all()
    return {cid: set(pre or []) for cid, pre in rows}


async def families(session: AsyncSession) -> Sequence[JobFamily]:
    return (await session.execute(select(JobFamily).order_by(JobFamily.family_id))).scalars().all()
