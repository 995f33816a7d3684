"""The onboarding view of a new hire (path progress, mentor tasks, day N of 90, next
deadlines: what the mobile app shows in one call) and the sweep that sends reminders."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import HR, people, today, visible_person
from zhanli_learning.assessments import repository as assessments
from zhanli_learning.catalogue.models import Course, JobFamily
from zhanli_learning.core.mentoring import TASK_KINDS
from zhanli_learning.core.progress import completion_rate, iso_week
from zhanli_learning.dates import FIRST, LAST
from zhanli_learning.mentoring import repository as mentoring_repo
from zhanli_learning.mentoring import service as mentoring
from zhanli_learning.onboarding import watch
from zhanli_learning.onboarding.schemas import (
    Deadline,
    MentorBrief,
    Onboarding,
    SweepResult,
    WeekTasks,
)
from zhanli_learning.paths import repository as paths_repo
from zhanli_learning.paths import service as paths
from zhanli_learning.settings import LearningSettings, learning_settings
from zhanli_shared.auth import CurrentPrincipal, Role, require_roles
from zhanli_shared.directory import Person
from zhanli_shared.errors import Unprocessable
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/learning", tags=["learning onboarding"])
NEXT = 5


async def onboarding_of(
    session: AsyncSession, settings: LearningSettings, person: Person
) -> Onboarding:
    day = today(settings.timezone)
    path = await paths_repo.path_of(session, person.employee_id)
    family = await session.get(JobFamily, person.job_role)
    items = await paths_repo.items(session, path.path_id) if path else []
    done = sum(1 for i in items if i.status == paths.DONE)
    deadlines: list[Deadline] = []
    for item in items:
        if item.status in paths.OPEN:
            course = await session.get(Course, item.course_id)
            deadlines.append(
                Deadline(
                    kind="course",
                    id=item.item_id,
                    title_zh=course.title_zh if course else item.course_id,
                    title_en=course.title_en if course else item.course_id,
                    due_on=item.due_on,
                    overdue=item.due_on < day,
                )
            )
    assignment = await mentoring_repo.active_assignment(session, person.employee_id)
    mentor = week_tasks = None
    if assignment is not None:
        mp = await people.get(session, assignment.mentor_id)
        mentor = MentorBrief(
            employee_id=assignment.mentor_id,
            name=mp.name if mp else None,
            since=assignment.started_on,
        )
        week = iso_week(day)
        tasks = [
            t
            for t in await mentoring_repo.tasks(session, mentee_id=person.employee_id, week=week)
            if t.assignment_id == assignment.assignment_id
        ]
        week_tasks = WeekTasks(
            week=week,
            done=sum(1 for t in tasks if t.status == "submitted"),
            total=len(tasks),
            tasks=[
                {
                    "task_id": t.task_id,
                    "kind": t.kind,
                    "status": t.status,
                    "title_zh": TASK_KINDS[t.kind][1],
                    "title_en": TASK_KINDS[t.kind][2],
                }
                for t in tasks
            ],
        )
        for t in tasks:
            if t.status == "open":
                _, zh, en = TASK_KINDS[t.kind]
                deadlines.append(
                    Deadline(
                        kind="mentor_task",
                        id=t.task_id,
                        title_zh=zh,
                        title_en=en,
                        due_on=t.due_on,
                        overdue=t.due_on < day,
                    )
                )
    deadlines.sort(key=lambda d: (d.due_on, d.kind, d.id))
    probation_days = (
        (path.probation_ends_on - path.start_on).days + 1
        if path
        else (family.probation_days if family else settings.probation_days)
    )
    start = path.start_on if path else person.hired_on
    latest = await assessments.latest(session, person.employee_id)
    required = {k: int(v) for k, v in (family.required_levels if family else {}).items()}
    skills: dict[str, dict[str, int | None]] = {
        k: {"score": latest[k].score if k in latest else None, "required": required.get(k)}
        for k in sorted(set(required) | set(latest))
    }
    kpi = await watch.latest_score(session, person.employee_id)
    return Onboarding(
        kpi_score=kpi.score if kpi else None,
        kpi_period=kpi.period if kpi else None,
        employee_id=person.employee_id,
        name=person.name,
        status=person.status,
        job_role=person.job_role,
        hired_on=person.hired_on,
        day=max(1, min((day - start).days + 1, probation_days)) if start else None,
        probation_days=probation_days,
        probation_ends_on=path.probation_ends_on
        if path
        else (start + dt.timedelta(days=probation_days - 1) if start else None),
        has_path=path is not None,
        completion_rate=completion_rate(done, len(items)) if path else None,
        completed=done,
        total=len(items),
        overdue=sum(1 for d in deadlines if d.overdue and d.kind == "course"),
        weekly_hours=path.weekly_hours if path else None,
        mentor=mentor,
        mentor_week=week_tasks,
        next_deadlines=deadlines[:NEXT] + [d for d in deadlines[NEXT:] if d.overdue][:NEXT],
        skills=skills,
    )


@router.get("/people/{employee_id}/onboarding", response_model=Onboarding)
async def read_onboarding(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Onboarding:
    """A new hire's onboarding in one call: day N of the probation, path progress, the
    mentor and this week's mentor tasks, the next deadlines (overdue first by date)."""
    person = await visible_person(session, principal, employee_id)
    return await onboarding_of(session, learning_settings(runtime), person)


async def run_sweep(
    session: AsyncSession, publisher: Publisher, settings: LearningSettings, day: dt.date
) -> dict[str, int]:
    from sqlalchemy import select

    from zhanli_learning.db import people_table

    rows = (
        await session.execute(
            select(people_table.c.employee_id, people_table.c.manager_id, people_table.c.status)
        )
    ).all()
    managers = {eid: mid for eid, mid, _ in rows}
    left = {eid for eid, _, status in rows if status == "left"}
    counts = await paths.sweep_overdue(session, publisher, settings, day, managers, left)
    counts.update(await mentoring.sweep(session, publisher, settings, day))
    return counts


@router.post(
    "/sweeps",
    response_model=SweepResult,
    dependencies=[Depends(require_roles(*HR, Role.IT_OPS, Role.INTEGRATION))],
)
async def sweep(
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    day: Annotated[
        dt.date | None, Query(description="Sweep as of this day (default today)")
    ] = None,
) -> SweepResult:
    """This week's mentor tasks, then overdue courses and tasks: a reminder to the learner
    or mentor, then an escalation to their manager (events for WeCom/DingTalk webhooks).
    Runs by itself every ``sweep_interval_s``; each reminder is sent once."""
    settings = learning_settings(runtime)
    when = day or today(settings.timezone)
    if not FIRST <= when <= LAST:
        raise Unprocessable(f"A day between {FIRST} and {LAST}.", field="day")
    return SweepResult(day=when, counts=await run_sweep(session, publisher, settings, when))
