"""Mentor programme routes. A mentor sees their mentees' learning and tasks, never pay
(this service holds none)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from zhanli_learning.access import (
    HR,
    is_hr,
    people,
    person_or_404,
    today,
    visible_person,
)
from zhanli_learning.core.mentoring import TASK_KINDS, rating_average
from zhanli_learning.core.progress import completion_rate
from zhanli_learning.mentoring import repository, service
from zhanli_learning.mentoring.models import Evidence, Mentor, MentorTask, Reassignment
from zhanli_learning.mentoring.schemas import (
    AssignmentRead,
    AssignmentWrite,
    EvidenceRead,
    MenteeBrief,
    MentorRead,
    MentorWrite,
    MoveWrite,
    RatingResult,
    RatingWrite,
    ReassignmentRead,
    Submission,
    TaskRead,
    Workbench,
)
from zhanli_learning.paths import repository as paths_repo
from zhanli_learning.paths.service import DONE, OPEN
from zhanli_learning.settings import learning_settings
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.errors import Forbidden, NotFound, OutOfScope, Unprocessable
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/learning", tags=["learning mentors"])
HrOnly = Depends(require_roles(*HR))
Week = Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$", description="Default: this week")]


async def _mentor_read(session: AsyncSession, mentor: Mentor) -> MentorRead:
    person = await people.get(session, mentor.employee_id)
    latest: dict[str, int] = {}
    ratings = await repository.ratings_of(session, mentor.employee_id)
    for r in ratings:
        latest[r.mentee_id] = r.score
    return MentorRead(
        employee_id=mentor.employee_id,
        name=person.name if person else None,
        capacity=mentor.capacity,
        active=mentor.active,
        flagged=mentor.flagged,
        mentees=[a.mentee_id for a in await repository.mentees_of(session, mentor.employee_id)],
        rating_average=rating_average(latest),
        ratings=len(ratings),
    )


@router.put("/mentors/{employee_id}", response_model=MentorRead, dependencies=[HrOnly])
async def put_mentor(
    employee_id: str,
    body: MentorWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> MentorRead:
    mentor = await service.upsert_mentor(
        session,
        publisher,
        learning_settings(runtime),
        principal,
        employee_id,
        body.capacity,
        body.active,
    )
    return await _mentor_read(session, mentor)


@router.get(
    "/mentors",
    response_model=list[MentorRead],
    dependencies=[Depends(require_roles(*HR, Role.SALES_MANAGER))],
)
async def list_mentors(principal: CurrentPrincipal, session: SessionDep) -> list[MentorRead]:
    from sqlalchemy import select

    rows = (await session.execute(select(Mentor).order_by(Mentor.employee_id))).scalars().all()
    return [await _mentor_read(session, m) for m in rows]


@router.post("/people/{employee_id}/mentor", response_model=AssignmentRead, status_code=201)
async def assign_mentor(
    employee_id: str,
    body: AssignmentWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> AssignmentRead:
    """Give a new hire a mentor (HR or the manager); 422 naming ``mentor_id`` when the
    mentor is unknown, inactive, flagged or at capacity."""
    mentee = await person_or_404(session, employee_id)
    if not (is_hr(principal) or principal.manages(mentee.org_path)):
        raise Forbidden("Only HR or the manager assigns a mentor.")
    day = today(learning_settings(runtime).timezone)
    assignment = await service.assign(
        session, publisher, principal, employee_id, body.mentor_id, day
    )
    return AssignmentRead.model_validate(assignment)


@router.get("/people/{employee_id}/mentor", response_model=AssignmentRead)
async def read_mentor(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep
) -> AssignmentRead:
    await visible_person(session, principal, employee_id)
    assignment = await repository.active_assignment(session, employee_id)
    if assignment is None:
        raise NotFound(f"{employee_id!r} has no mentor.")
    return AssignmentRead.model_validate(assignment)


async def task_read(session: AsyncSession, task: MentorTask, day: object | None = None) -> TaskRead:
    read = TaskRead.model_validate(task)
    field, zh, en = TASK_KINDS[task.kind]
    read.title_zh, read.title_en, read.evidence_field = zh, en, field
    read.evidence = [
        EvidenceRead.model_validate(e) for e in await repository.evidence_of(session, task.task_id)
    ]
    if day is not None:
        read.overdue = task.status == "open" and task.due_on < day  # type: ignore[operator]
    return read


async def workbench_of(session: AsyncSession, mentor_id: str, week: str, tz: str) -> Workbench:
    mentor = await session.get(Mentor, mentor_id)
    if mentor is None:
        raise NotFound(f"{mentor_id!r} is not a mentor.")
    day = today(tz)
    briefs = []
    open_tasks = overdue = 0
    for a in await repository.mentees_of(session, mentor_id):
        person = await people.get(session, a.mentee_id)
        path = await paths_repo.path_of(session, a.mentee_id)
        items = await paths_repo.items(session, path.path_id) if path else []
        done = sum(1 for i in items if i.status == DONE)
        tasks = [
            await task_read(session, t, day)
            for t in await repository.tasks(session, mentee_id=a.mentee_id, week=week)
            if t.mentor_id == mentor_id
        ]
        open_tasks += sum(1 for t in tasks if t.status == "open")
        briefs.append(
            MenteeBrief(
                employee_id=a.mentee_id,
                name=person.name if person else a.mentee_id,
                completion_rate=completion_rate(done, len(items)) if path else None,
                overdue_courses=sum(1 for i in items if i.status in OPEN and i.due_on < day),
                day=(day - path.start_on).days + 1 if path else None,
                tasks=tasks,
            )
        )
    for t in await repository.tasks(session, mentor_id=mentor_id):
        if t.status == "open" and t.due_on < day:
            overdue += 1
    read = await _mentor_read(session, mentor)
    return Workbench(
        mentor_id=mentor_id,
        week=week,
        capacity=mentor.capacity,
        flagged=mentor.flagged,
        rating_average=read.rating_average,
        mentees=briefs,
        open_tasks=open_tasks,
        overdue_tasks=overdue,
    )


@router.get("/mentors/{mentor_id}/workbench", response_model=Workbench)
async def read_workbench(
    mentor_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    week: Week = None,
) -> Workbench:
    """The mentor's week: each mentee's three tasks, path progress and overdue courses."""
    if principal.subject != mentor_id:
        await visible_person(session, principal, mentor_id)
        if not (is_hr(principal) or principal.has_any({Role.SALES_MANAGER})):
            raise Forbidden("Only the mentor, their manager or HR sees the workbench.")
    settings = learning_settings(runtime)
    return await workbench_of(
        session, mentor_id, week or service.this_week(today(settings.timezone)), settings.timezone
    )


@router.get("/people/{employee_id}/mentor-tasks", response_model=list[TaskRead])
async def read_mentee_tasks(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    week: Week = None,
) -> list[TaskRead]:
    await visible_person(session, principal, employee_id)
    day = today(learning_settings(runtime).timezone)
    return [
        await task_read(session, t, day)
        for t in await repository.tasks(session, mentee_id=employee_id, week=week)
    ]


async def _own_task(session: AsyncSession, principal: Principal, task_id: str) -> MentorTask:
    task = await service.task_or_404(session, task_id)
    if principal.subject != task.mentor_id:
        raise Forbidden("Only the task's mentor submits it.")
    return task


EVIDENCE_BODY = {
    "required": True,
    "description": "The file as the raw body (image/jpeg, image/png, application/pdf or "
    "text/plain; size-limited; the content must match the type).",
    "content": {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/mentor-tasks/{task_id}/evidence",
    response_model=EvidenceRead,
    status_code=201,
    openapi_extra={"requestBody": EVIDENCE_BODY},
    responses={413: {"description": "Too large"}, 415: {"description": "Type not accepted"}},
)
async def upload_evidence(
    task_id: str,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    filename: Annotated[str, Query(min_length=1, max_length=200)] = "evidence",
) -> EvidenceRead:
    settings = learning_settings(runtime)
    task = await _own_task(session, principal, task_id)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in settings.evidence_types:
        raise service.UnsupportedMediaType(
            f"{media_type[:60]!r} is not accepted: send one of "
            f"{', '.join(settings.evidence_types)}.",
            field="content-type",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.evidence_max_bytes:
        raise service.PayloadTooLarge(
            f"The file is larger than {settings.evidence_max_bytes // 1024} KiB.", field="file"
        )
    data = bytearray()
    try:
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > settings.evidence_max_bytes:
                raise service.PayloadTooLarge(
                    f"The file is larger than {settings.evidence_max_bytes // 1024} KiB.",
                    field="file",
                )
    except ClientDisconnect as exc:
        raise Unprocessable("The upload was interrupted.", field="file") from exc
    evidence = await service.add_evidence(
        session, settings, principal, task, bytes(data), media_type, filename
    )
    return EvidenceRead.model_validate(evidence)


@router.post("/mentor-tasks/{task_id}/submit", response_model=TaskRead)
async def submit_task(
    task_id: str,
    body: Submission,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> TaskRead:
    """Submit the week's task with its record/comment/notes (evidence files first); a
    second submission is 409."""
    settings = learning_settings(runtime)
    task = await _own_task(session, principal, task_id)
    day = today(settings.timezone)
    await service.submit(session, publisher, settings, principal, task, body.text, day)
    return await task_read(session, task, day)


@router.get(
    "/evidence/{evidence_id}",
    response_class=Response,
    responses={200: {"description": "The file", "content": {"application/octet-stream": {}}}},
)
async def download_evidence(
    evidence_id: str, principal: CurrentPrincipal, session: SessionDep
) -> Response:
    """The file, to the task's mentor, the mentee, their management chain and HR."""
    evidence = await session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound(f"Unknown evidence {evidence_id!r}.")
    task = await service.task_or_404(session, evidence.task_id)
    if principal.subject != task.mentor_id:
        mentee = await person_or_404(session, task.mentee_id)
        if not principal.can_view_person(mentee.employee_id, mentee.org_path):
            raise OutOfScope(f"Unknown evidence {evidence_id!r}.")
    return Response(
        content=evidence.content,
        media_type=evidence.media_type,
        headers={
            "content-disposition": f'attachment; filename="{evidence.filename}"',
            "x-content-type-options": "nosniff",
            "cache-control": "private, no-store",
        },
    )


@router.post("/people/{employee_id}/mentor/ratings", response_model=RatingResult, status_code=201)
async def rate_mentor(
    employee_id: str,
    body: RatingWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> RatingResult:
    """The mentee rates their mentor 1-10 (once a week). Below the threshold (7) the
    mentor is flagged and a reassignment opens for HR."""
    if principal.subject != employee_id:
        raise Forbidden("Only the mentee rates their mentor.")
    await person_or_404(session, employee_id)
    settings = learning_settings(runtime)
    assignment = await repository.active_assignment(session, employee_id)
    if assignment is None:
        raise Unprocessable("You have no mentor to rate.", field="mentor_id")
    week = body.week or service.this_week(today(settings.timezone))
    rating, average, flagged, reassignment = await service.rate(
        session,
        publisher,
        settings,
        employee_id,
        assignment.mentor_id,
        body.score,
        week,
        body.comment,
    )
    return RatingResult(
        mentor_id=assignment.mentor_id,
        mentee_id=employee_id,
        week=week,
        score=rating.score,
        average=average,
        flagged=flagged,
        reassignment_id=reassignment.reassignment_id if reassignment else None,
    )


async def _reassignment_read(session: AsyncSession, r: Reassignment) -> ReassignmentRead:
    read = ReassignmentRead.model_validate(r)
    read.mentees = [a.mentee_id for a in await repository.mentees_of(session, r.mentor_id)]
    return read


@router.get("/reassignments", response_model=list[ReassignmentRead], dependencies=[HrOnly])
async def list_reassignments(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(open|done)$")] = "open",
) -> list[ReassignmentRead]:
    return [
        await _reassignment_read(session, r)
        for r in await repository.reassignments(session, status)
    ]


@router.post(
    "/reassignments/{reassignment_id}/moves",
    response_model=ReassignmentRead,
    dependencies=[HrOnly],
)
async def move_mentee(
    reassignment_id: str,
    body: MoveWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> ReassignmentRead:
    """Move one mentee of the flagged mentor to another mentor; the reassignment is done
    when none is left."""
    r = await session.get(Reassignment, reassignment_id)
    if r is None:
        raise NotFound(f"Unknown reassignment {reassignment_id!r}.")
    current = await repository.active_assignment(session, body.mentee_id)
    if current is None or current.mentor_id != r.mentor_id:
        raise Unprocessable(
            f"{body.mentee_id!r} is not a mentee of {r.mentor_id!r}.", field="mentee_id"
        )
    day = today(learning_settings(runtime).timezone)
    await service.assign(
        session,
        publisher,
        principal,
        body.mentee_id,
        body.to_mentor_id,
        day,
        reason="reassigned: low rating",
    )
    return await _reassignment_read(session, r)
