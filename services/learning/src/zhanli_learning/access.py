"""Who may see and change a person's learning: the person, their management chain and HR
(``can_view_person``), and their active mentor (learning only: never pay, which this
service does not hold). Writers of paths and catalogue: HR."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.db import people_table
from zhanli_learning.mentoring.models import MentorAssignment
from zhanli_shared.auth import Principal, Role
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection, Person
from zhanli_shared.errors import NotFound, OutOfScope

people = PeopleProjection(people_table)
HR = frozenset({Role.HR_ADMIN, Role.HR_BP})


async def person_or_404(session: AsyncSession, employee_id: str) -> Person:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    return person


async def mentor_of(session: AsyncSession, mentee_id: str) -> str | None:
    stmt = select(MentorAssignment.mentor_id).where(
        MentorAssignment.mentee_id == mentee_id, MentorAssignment.status == "active"
    )
    return (await session.execute(stmt)).scalars().first()


async def can_see_learning(session: AsyncSession, principal: Principal, person: Person) -> bool:
    if principal.can_view_person(person.employee_id, person.org_path):
        return True
    return principal.subject == await mentor_of(session, person.employee_id)


async def visible_person(session: AsyncSession, principal: Principal, employee_id: str) -> Person:
    """The person when the caller may see their learning; out of scope answers exactly like
    an unknown id (404, no id enumeration)."""
    person = await person_or_404(session, employee_id)
    if not await can_see_learning(session, principal, person):
        raise OutOfScope(f"Unknown person {employee_id!r}.")
    return person


def is_hr(principal: Principal) -> bool:
    return principal.has_any(HR)


def may_assess(principal: Principal, person: Person, mentor_id: str | None) -> bool:
    """HR, the person's management chain, or their active mentor (never the person)."""
    if principal.subject == person.employee_id:
        return False
    return is_hr(principal) or principal.manages(person.org_path) or principal.subject == mentor_id


def today(tz: str) -> dt.date:
    return utcnow().astimezone(ZoneInfo(tz)).date()
