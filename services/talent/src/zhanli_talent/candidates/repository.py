"""Every query of candidates, assessments and duplicate pairs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_talent.candidates.models import Assessment, Candidate, DuplicatePair


async def get(session: AsyncSession, candidate_id: str) -> Candidate | None:
    return await session.get(Candidate, candidate_id)


async def by_contact(
    session: AsyncSession, phone_index: str | None, email_index: str | None, exclude: str
) -> list[Candidate]:
    conds = []
    if phone_index:
        conds.append(Candidate.phone_index == phone_index)
    if email_index:
        conds.append(Candidate.email_index == email_index)
    if not conds:
        return []
    rows = await session.execute(
        select(Candidate).where(
            or_(*conds), Candidate.id != exclude, Candidate.merged_into.is_(None)
        )
    )
    return list(rows.scalars())


async def pair(session: AsyncSession, a: str, b: str) -> DuplicatePair | None:
    return (
        await session.execute(
            select(DuplicatePair).where(
                or_(
                    (DuplicatePair.candidate_id == a) & (DuplicatePair.other_id == b),
                    (DuplicatePair.candidate_id == b) & (DuplicatePair.other_id == a),
                )
            )
        )
    ).scalar_one_or_none()


async def pairs_of(session: AsyncSession, candidate_id: str) -> list[DuplicatePair]:
    rows = await session.execute(
        select(DuplicatePair)
        .where(
            or_(DuplicatePair.candidate_id == candidate_id, DuplicatePair.other_id == candidate_id)
        )
        .order_by(DuplicatePair.created_at)
    )
    return list(rows.scalars())


async def open_pairs(session: AsyncSession, limit: int) -> list[DuplicatePair]:
    rows = await session.execute(
        select(DuplicatePair)
        .where(DuplicatePair.status == "open")
        .order_by(DuplicatePair.created_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def assessments_of(session: AsyncSession, candidate_ids: Sequence[str]) -> list[Assessment]:
    out: list[Assessment] = []
    ids = list(candidate_ids)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(Assessment)
            .where(Assessment.candidate_id.in_(ids[start : start + 500]))
            .order_by(Assessment.taken_on, Assessment.recorded_at)
        )
        out.extend(rows.scalars())
    return out


async def many(session: AsyncSession, candidate_ids: Sequence[str]) -> dict[str, Candidate]:
    out: dict[str, Candidate] = {}
    ids = list(candidate_ids)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(Candidate).where(Candidate.id.in_(ids[start : start + 500]))
        )
        out.update({c.id: c for c in rows.scalars()})
    return out
