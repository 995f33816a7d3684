"""Every mentoring query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.mentoring.models import (
    Evidence,
    MentorAssignment,
    MentorRating,
    MentorTask,
    Reassignment,
)


async def active_assignment(session: AsyncSession, mentee_id: str) -> MentorAssignment | None:
    stmt = select(MentorAssignment).where(
        MentorAssignment.mentee_id == mentee_id, MentorAssignment.status == "active"
    )
    return (await session.execute(stmt)).scalars().first()


async def mentees_of(session: AsyncSession, mentor_id: str) -> Sequence[MentorAssignment]:
    stmt = (
        select(MentorAssignment)
        .where(MentorAssignment.mentor_id == mentor_id, MentorAssignment.status == "active")
        .order_by(MentorAssignment.mentee_id)
    )
    return (await session.execute(stmt)).scalars().all()


async def all_active(session: AsyncSession) -> Sequence[MentorAssignment]:
    stmt = select(MentorAssignment).where(MentorAssignment.status == "active")
    return (await session.execute(stmt)).scalars().all()


async def tasks(
    session: AsyncSession,
    *,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
    week: str | None = None,
) -> Sequence[MentorTask]:
    stmt = select(MentorTask).order_by(MentorTask.week, MentorTask.mentee_id, MentorTask.kind)
    if mentor_id:
        stmt = stmt.where(MentorTask.mentor_id == mentor_id)
    if mentee_id:
        stmt = stmt.where(MentorTask.mentee_id == mentee_id)
    if week:
        stmt = stmt.where(MentorTask.week == week)
    return (await session.execute(stmt)).scalars().all()


async def open_tasks_due_before(session: AsyncSession, day: dt.date) -> Sequence[MentorTask]:
    stmt = select(MentorTask).where(MentorTask.status == "open", MentorTask.due_on < day)
    return (await session.execute(stmt)).scalars().all()


async def evidence_of(session: AsyncSession, task_id: str) -> Sequence[Evidence]:
    stmt = select(Evidence).where(Evidence.task_id == task_id).order_by(Evidence.uploaded_at)
    return (await session.execute(stmt)).scalars().all()


async def ratings_of(session: AsyncSession, mentor_id: str) -> Sequence[MentorRating]:
    stmt = (
        select(MentorRating)
        .where(MentorRating.mentor_id == mentor_id)
        .order_by(MentorRating.week, MentorRating.created_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def open_reassignment(session: AsyncSession, mentor_id: str) -> Reassignment | None:
    stmt = select(Reassignment).where(
        Reassignment.mentor_id == mentor_id, Reassignment.status == "open"
    )
    return (await session.execute(stmt)).scalars().first()


async def reassignments(session: AsyncSession, status: str | None) -> Sequence[Reassignment]:
    stmt = select(Reassignment).order_by(Reassignment.opened_at.desc())
    if status:
        stmt = stmt.where(Reassignment.status == status)
    return (await session.execute(stmt)).scalars().all()
