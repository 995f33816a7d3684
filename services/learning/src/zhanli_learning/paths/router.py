"""Path routes: read (the person, their chain, HR, their mentor), HR adjustments, the
learner's own progress, and the sweep (overdue reminders, mentor weeks)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import HR, is_hr, person_or_404, today, visible_person
from zhanli_learning.catalogue.models import Course
from zhanli_learning.core.progress import completion_rate
from zhanli_learning.paths import repository, service
from zhanli_learning.paths.models import LearningPath
from zhanli_learning.paths.schemas import (
    ChangeRead,
    Completion,
    ItemAdd,
    ItemChange,
    ItemRemove,
    PathGenerate,
    PathItemRead,
    PathRead,
)
from zhanli_learning.settings import LearningSettings, learning_settings
from zhanli_shared.auth import CurrentPrincipal, Principal, require_roles
from zhanli_shared.errors import Forbidden, Unprocessable
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/learning", tags=["learning paths"])
HrOnly = Depends(require_roles(*HR))


async def path_view(
    session: AsyncSession, settings: LearningSettings, path: LearningPath
) -> PathRead:
    day = today(settings.timezone)
    items = await repository.items(session, path.path_id)
    out = []
    for item in items:
        read = PathItemRead.model_validate(item)
        course = await session.get(Course, item.course_id)
        if course is not None:
            read.title_zh, read.title_en = course.title_zh, course.title_en
            read.format, read.duration_minutes = course.format, course.duration_minutes
        read.overdue = item.status in service.OPEN and item.due_on < day
        out.append(read)
    done = sum(1 for i in items if i.status == service.DONE)
    probation_days = (path.probation_ends_on - path.start_on).days + 1
    return PathRead(
        path_id=path.path_id,
        employee_id=path.employee_id,
        job_family=path.job_family,
        start_on=path.start_on,
        probation_ends_on=path.probation_ends_on,
        day=max(0, min((day - path.start_on).days + 1, probation_days)),
        probation_days=probation_days,
        weekly_hours=path.weekly_hours,
        gaps=path.gaps,
        open_gaps=path.open_gaps,
        version=path.version,
        source=path.source,
        completion_rate=completion_rate(done, len(items)),
        completed=done,
        total=len(items),
        overdue=sum(1 for i in out if i.overdue),
        items=out,
    )


@router.get("/people/{employee_id}/path", response_model=PathRead)
async def read_path(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> PathRead:
    await visible_person(session, principal, employee_id)
    path = await service.path_or_404(session, employee_id)
    return await path_view(session, learning_settings(runtime), path)


@router.post(
    "/people/{employee_id}/path", response_model=PathRead, status_code=201, dependencies=[HrOnly]
)
async def generate_path(
    employee_id: str,
    body: PathGenerate,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PathRead:
    """Plan the person's path now (a path is planned by itself when they enter probation);
    ``regenerate`` plans again while nothing has started."""
    person = await person_or_404(session, employee_id)
    settings = learning_settings(runtime)
    path = await service.generate(
        session,
        publisher,
        settings,
        person,
        source="hr",
        actor=principal,
        start_on=body.start_on,
        replace=body.regenerate,
    )
    if path is None:
        raise Unprocessable(
            f"Job role {person.job_role!r} has no competency profile: add the job family first.",
            field="job_role",
        )
    return await path_view(session, settings, path)


@router.post(
    "/people/{employee_id}/path/items",
    response_model=PathRead,
    status_code=201,
    dependencies=[HrOnly],
)
async def add_item(
    employee_id: str,
    body: ItemAdd,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PathRead:
    """Add a course (its missing prerequisites come first); kept as a change, audited."""
    await person_or_404(session, employee_id)
    settings = learning_settings(runtime)
    path = await service.path_or_404(session, employee_id)
    await service.add_course(
        session,
        publisher,
        settings,
        path,
        body.course_id,
        actor=principal,
        reason="hr",
        due_on=body.due_on,
        note=body.note,
    )
    path.source = "hr" if path.source == "directory" else path.source
    return await path_view(session, settings, path)


@router.patch(
    "/people/{employee_id}/path/items/{item_id}", response_model=PathRead, dependencies=[HrOnly]
)
async def change_item(
    employee_id: str,
    item_id: str,
    body: ItemChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PathRead:
    path = await service.path_or_404(session, employee_id)
    item = await service.item_or_404(session, path, item_id)
    await service.change_item(
        session, publisher, path, item, actor=principal, due_on=body.due_on, note=body.note
    )
    return await path_view(session, learning_settings(runtime), path)


@router.post(
    "/people/{employee_id}/path/items/{item_id}/remove",
    response_model=PathRead,
    dependencies=[HrOnly],
)
async def remove_item(
    employee_id: str,
    item_id: str,
    body: ItemRemove,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PathRead:
    settings = learning_settings(runtime)
    path = await service.path_or_404(session, employee_id)
    item = await service.item_or_404(session, path, item_id)
    await service.remove_item(
        session, publisher, settings, path, item, actor=principal, reason=body.reason
    )
    return await path_view(session, settings, path)


@router.get("/people/{employee_id}/path/changes", response_model=list[ChangeRead])
async def read_changes(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[ChangeRead]:
    await visible_person(session, principal, employee_id)
    path = await service.path_or_404(session, employee_id)
    return [ChangeRead.model_validate(c) for c in await repository.changes(session, path.path_id)]


def _learner_or_hr(principal: Principal, employee_id: str) -> None:
    if principal.subject != employee_id and not is_hr(principal):
        raise Forbidden("Only the learner (or HR) records their progress.")


@router.post("/people/{employee_id}/path/items/{item_id}/start", response_model=PathItemRead)
async def start_item(
    employee_id: str,
    item_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PathItemRead:
    await person_or_404(session, employee_id)
    _learner_or_hr(principal, employee_id)
    path = await service.path_or_404(session, employee_id)
    item = await service.item_or_404(session, path, item_id)
    await service.start(session, publisher, learning_settings(runtime), path, item)
    return PathItemRead.model_validate(item)


@router.post("/people/{employee_id}/path/items/{item_id}/complete", response_model=PathItemRead)
async def complete_item(
    employee_id: str,
    item_id: str,
    body: Completion,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PathItemRead:
    """Complete a course (with its quiz score when it has a quiz: below the pass mark the
    course stays open, 422). 409 when already completed or a prerequisite is not."""
    await person_or_404(session, employee_id)
    _learner_or_hr(principal, employee_id)
    path = await service.path_or_404(session, employee_id)
    item = await service.item_or_404(session, path, item_id)
    await service.complete(
        session, publisher, learning_settings(runtime), path, item, body.quiz_score
    )
    return PathItemRead.model_validate(item)


Day = Annotated[dt.date | None, Query(description="The day to sweep as (default: today)")]
