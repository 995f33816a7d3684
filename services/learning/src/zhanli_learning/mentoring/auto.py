"""Choosing a mentor for a new hire: an active, unflagged mentor with room, nearest in the
org tree (same unit, then the closest common ancestor), least loaded, then by id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import people
from zhanli_learning.mentoring import repository
from zhanli_learning.mentoring.models import Mentor
from zhanli_shared.directory import Person


async def pick_mentor(session: AsyncSession, mentee: Person) -> str | None:
    if await repository.active_assignment(session, mentee.employee_id) is not None:
        return None
    stmt = select(Mentor).where(Mentor.active.is_(True), Mentor.flagged.is_(False))
    best: tuple[int, int, str] | None = None
    for mentor in (await session.execute(stmt)).scalars().all():
        if mentor.employee_id == mentee.employee_id:
            continue
        load = len(await repository.mentees_of(session, mentor.employee_id))
        if load >= mentor.capacity:
            continue
        person = await people.get(session, mentor.employee_id)
        if person is None or person.status == "left":
            continue
        common = 0
        for a, b in zip(person.org_path, mentee.org_path, strict=False):
            if a != b:
                break
            common += 1
        if common == 0:
            continue  # another branch: HR decides
        key = (-common, load, mentor.employee_id)
        if best is None or key < best:
            best = key
    return best[2] if best else None
