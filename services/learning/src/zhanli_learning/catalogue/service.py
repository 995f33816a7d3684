"""Catalogue use cases: skills, courses (graph kept acyclic), job-family profiles, and the
compiled catalogue paths are generated from. Add and flush, never commit."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.catalogue import repository
from zhanli_learning.catalogue.models import Course, JobFamily, Skill
from zhanli_learning.catalogue.schemas import ID, CourseWrite, JobFamilyWrite, SkillWrite
from zhanli_learning.core import paths as core
from zhanli_learning.core.graph import find_cycle
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher

_ID = re.compile(ID)


class CourseProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def check_id(value: str, field: str) -> None:
    if not _ID.match(value):
        raise Unprocessable(
            f"{value[:70]!r} is not a valid id (letters, digits, '_', '-', '.'; <= 64).",
            field=field,
        )


def course_problems(
    course_id: str,
    data: CourseWrite,
    skill_ids: set[str],
    prereqs: dict[str, set[str]],
    retired: set[str] | None = None,
) -> None:
    """Raise CourseProblem naming the field: an unknown skill, a gain out of range, an
    unknown or retired prerequisite, a course needing itself, or a cycle (named)."""
    for skill, gain in data.skills.items():
        if skill not in skill_ids:
            raise CourseProblem(f"skills.{skill}", f"Unknown skill {skill!r}.")
        if not 1 <= gain <= 100:
            raise CourseProblem(f"skills.{skill}", "A course adds 1-100 points to a skill.")
    for family in data.required_for:
        if not _ID.match(family):
            raise CourseProblem("required_for", f"{family[:70]!r} is not a job family id.")
    for i, p in enumerate(data.prerequisites):
        if p == course_id:
            raise CourseProblem(f"prerequisites.{i}", "A course cannot be its own prerequisite.")
        if p not in prereqs:
            raise CourseProblem(f"prerequisites.{i}", f"Unknown course {p!r}.")
        if retired and p in retired:
            raise CourseProblem(f"prerequisites.{i}", f"Course {p!r} is retired.")
    graph = dict(prereqs)
    graph[course_id] = set(data.prerequisites)
    cycle = find_cycle(graph)
    if cycle is not None:
        if course_id in cycle:  # named from the course being written
            at = cycle.index(course_id)
            cycle = [*cycle[at:-1], *cycle[:at], course_id]
        raise CourseProblem(
            "prerequisites", "The prerequisites would form a cycle: " + " -> ".join(cycle) + "."
        )


def course_values(data: CourseWrite) -> dict[str, Any]:
    return {
        "title_zh": data.title_zh,
        "title_en": data.title_en,
        "format": data.format.value,
        "duration_minutes": data.duration_minutes,
        "skills": dict(sorted(data.skills.items())),
        "prerequisites": sorted(set(data.prerequisites)),
        "required_for": sorted(set(data.required_for)),
        "quiz_pass_score": data.quiz_pass_score,
    }


def _state(course: Course) -> dict[str, Any]:
    return {k: getattr(course, k) for k in (*course_values_keys(), "active")}


def course_values_keys() -> tuple[str, ...]:
    return (
        "title_zh",
        "title_en",
        "format",
        "duration_minutes",
        "skills",
        "prerequisites",
        "required_for",
        "quiz_pass_score",
    )


async def upsert_skill(
    session: AsyncSession, publisher: Publisher, actor: Principal, skill_id: str, data: SkillWrite
) -> tuple[Skill, bool]:
    check_id(skill_id, "skill_id")
    skill = await session.get(Skill, skill_id)
    values = {"name_zh": data.name_zh, "name_en": data.name_en, "category": data.category.value}
    created = skill is None
    if skill is None:
        skill = Skill(skill_id=skill_id, updated_at=utcnow(), **values)
        session.add(skill)
    elif all(getattr(skill, k) == v for k, v in values.items()):
        return skill, False
    else:
        for k, v in values.items():
            setattr(skill, k, v)
        skill.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="learning.skill.created" if created else "learning.skill.updated",
        entity_type="learning_skill",
        entity_id=skill_id,
        before=None,
        after=values,
    )
    return skill, True


async def upsert_course(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal | str,
    course_id: str,
    data: CourseWrite,
    *,
    checked: bool = False,
) -> tuple[Course, str]:
    """(the course, created | updated | unchanged). Unprocessable naming the field."""
    check_id(course_id, "course_id")
    if not checked:
        prereqs = await repository.prerequisite_map(session)
        retired = {c.course_id for c in await repository.courses(session) if not c.active}
        try:
            course_problems(course_id, data, await repository.skill_ids(session), prereqs, retired)
        except CourseProblem as exc:
            raise Unprocessable(exc.message, field=exc.field) from exc
    values = course_values(data)
    course = await session.get(Course, course_id)
    before = None
    if course is None:
        course = Course(course_id=course_id, active=True, updated_at=utcnow(), **values)
        session.add(course)
        action = "created"
    else:
        before = _state(course)
        if course.active and all(getattr(course, k) == v for k, v in values.items()):
            return course, "unchanged"
        for k, v in values.items():
            setattr(course, k, v)
        course.active = True
        course.updated_at = utcnow()
        action = "updated"
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action=f"learning.course.{action}",
        entity_type="learning_course",
        entity_id=course_id,
        before=before,
        after=_state(course),
    )
    return course, action


async def retire_course(
    session: AsyncSession, publisher: Publisher, actor: Principal, course_id: str
) -> Course:
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound(f"Unknown course {course_id!r}.")
    needed_by = sorted(
        c.course_id
        for c in await repository.courses(session, active_only=True)
        if course_id in (c.prerequisites or []) and c.course_id != course_id
    )
    if needed_by:
        raise Conflict(
            f"Course {course_id!r} is a prerequisite of {', '.join(needed_by[:10])}: "
            "change those first.",
            field="course_id",
        )
    if course.active:
        course.active = False
        course.updated_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            publisher,
            actor=actor,
            action="learning.course.retired",
            entity_type="learning_course",
            entity_id=course_id,
            before={"active": True},
            after={"active": False},
        )
    return course


async def upsert_family(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal,
    family_id: str,
    data: JobFamilyWrite,
) -> JobFamily:
    check_id(family_id, "family_id")
    known = await repository.skill_ids(session)
    for skill, level in data.required_levels.items():
        if skill not in known:
            raise Unprocessable(f"Unknown skill {skill!r}.", field=f"required_levels.{skill}")
        if not 1 <= level <= 100:
            raise Unprocessable("A level is 1-100.", field=f"required_levels.{skill}")
    values = {
        "name_zh": data.name_zh,
        "name_en": data.name_en,
        "required_levels": dict(sorted(data.required_levels.items())),
        "probation_days": data.probation_days,
    }
    family = await session.get(JobFamily, family_id)
    before = None
    if family is None:
        family = JobFamily(family_id=family_id, updated_at=utcnow(), **values)
        session.add(family)
    else:
        before = {k: getattr(family, k) for k in values}
        if before == values:
            return family
        for k, v in values.items():
            setattr(family, k, v)
        family.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="learning.job_family.upserted",
        entity_type="learning_job_family",
        entity_id=family_id,
        before=before,
        after=values,
    )
    return family


def to_core(course: Course) -> core.Course:
    return core.Course(
        course_id=course.course_id,
        hours=course.duration_minutes / 60,
        gains={k: int(v) for k, v in (course.skills or {}).items()},
        prerequisites=frozenset(course.prerequisites or []),
        required_for=frozenset(course.required_for or []),
        format=course.format,
    )


async def compiled(session: AsyncSession) -> core.Catalogue:
    """The catalogue paths are planned from: retired courses are not planned (their
    prerequisites stay in the graph so nothing dangles)."""
    rows = await repository.courses(session)
    courses = []
    for c in rows:
        base = to_core(c)
        if not c.active:
            base = core.Course(
                base.course_id, base.hours, {}, base.prerequisites, frozenset(), base.format
            )
        courses.append(base)
    return core.Catalogue(courses)
