"""Mentor programme use cases: mentors and capacity, assignment (and the week's three
tasks), submissions with evidence, mentee ratings (a mentor below the threshold is flagged
and a reassignment opens), moving mentees, and the weekly sweep (new weeks' tasks, overdue
reminders then escalation). Add and flush, never commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import people, person_or_404
from zhanli_learning.core.mentoring import (
    TASK_KINDS,
    below_threshold,
    has_room,
    rating_average,
    weekly_tasks,
)
from zhanli_learning.core.progress import iso_week, overdue_stage, week_bounds
from zhanli_learning.mentoring import repository
from zhanli_learning.mentoring.evidence import EvidenceProblem, check, safe_filename
from zhanli_learning.mentoring.models import (
    Evidence,
    Mentor,
    MentorAssignment,
    MentorRating,
    MentorTask,
    Reassignment,
)
from zhanli_learning.settings import LearningSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound, ProblemError, Unprocessable
from zhanli_shared.events.contracts.learning import (
    LearningReminder,
    MentorRated,
    MentorTaskCompleted,
)
from zhanli_shared.events.outbox import Publisher


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


async def upsert_mentor(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    actor: Principal,
    employee_id: str,
    capacity: int | None,
    active: bool,
) -> Mentor:
    person = await people.get(session, employee_id)
    if person is None:
        raise Unprocessable(f"Unknown person {employee_id!r}.", field="employee_id")
    if person.status == "left":
        raise Unprocessable(f"{employee_id!r} has left the company.", field="employee_id")
    mentor = await session.get(Mentor, employee_id)
    cap = capacity or (mentor.capacity if mentor else settings.mentor_capacity)
    load = len(await repository.mentees_of(session, employee_id))
    if cap < load:
        raise Unprocessable(
            f"{employee_id!r} mentors {load} people now: a capacity of {cap} is too small.",
            field="capacity",
        )
    before = None
    if mentor is None:
        mentor = Mentor(employee_id=employee_id, flagged=False, updated_at=utcnow())
        session.add(mentor)
    else:
        before = {"capacity": mentor.capacity, "active": mentor.active}
    mentor.capacity, mentor.active, mentor.updated_at = cap, active, utcnow()
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="learning.mentor.upserted",
        entity_type="learning_mentor",
        entity_id=employee_id,
        before=before,
        after={"capacity": cap, "active": active},
    )
    return mentor


async def ensure_week(
    session: AsyncSession, assignment: MentorAssignment, monday: dt.date
) -> list[MentorTask]:
    """The three tasks of ``assignment``'s week (created once)."""
    week = iso_week(monday)
    have = {
        t.kind
        for t in await repository.tasks(session, mentee_id=assignment.mentee_id, week=week)
        if t.assignment_id == assignment.assignment_id
    }
    added = []
    for kind, due in weekly_tasks(monday):
        if kind in have:
            continue
        task = MentorTask(
            task_id=str(uuid.uuid4()),
            assignment_id=assignment.assignment_id,
            mentor_id=assignment.mentor_id,
            mentee_id=assignment.mentee_id,
            week=week,
            kind=kind,
            due_on=due,
            status="open",
        )
        session.add(task)
        added.append(task)
    await session.flush()
    return added


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


async def assign(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal | str,
    mentee_id: str,
    mentor_id: str,
    day: dt.date,
    *,
    reason: str = "assigned",
) -> MentorAssignment:
    """Give ``mentee_id`` the mentor (ending any current assignment). 422 naming
    ``mentor_id`` for an unknown, inactive, flagged or full mentor, or the mentee
    themselves."""
    mentee = await person_or_404(session, mentee_id)
    if mentor_id == mentee_id:
        raise Unprocessable("Nobody mentors themselves.", field="mentor_id")
    mentor = await session.get(Mentor, mentor_id)
    if mentor is None or not mentor.active:
        raise Unprocessable(f"{mentor_id!r} is not an active mentor.", field="mentor_id")
    if mentor.flagged:
        raise Unprocessable(
            f"{mentor_id!r} is flagged for low ratings and takes no new mentees.",
            field="mentor_id",
        )
    current = await repository.active_assignment(session, mentee_id)
    if current is not None and current.mentor_id == mentor_id:
        return current
    load = len(await repository.mentees_of(session, mentor_id))
    if not has_room(load, mentor.capacity):
        raise Unprocessable(
            f"{mentor_id!r} already mentors {load} of {mentor.capacity} people (capacity).",
            field="mentor_id",
        )
    if current is not None:
        current.status = "ended"
        current.ended_on = day
        current.end_reason = reason
        for task in await repository.tasks(session, mentee_id=mentee_id):
            if task.assignment_id == current.assignment_id and task.status == "open":
                await session.delete(task)  # the new mentor owes the week now
        await session.flush()
    assignment = MentorAssignment(
        assignment_id=str(uuid.uuid4()),
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        status="active",
        started_on=day,
        created_by=actor if isinstance(actor, str) else actor.subject,
        created_at=utcnow(),
    )
    session.add(assignment)
    await session.flush()
    await ensure_week(session, assignment, _monday(day))
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="learning.mentor.assigned",
        entity_type="learning_mentor_assignment",
        entity_id=assignment.assignment_id,
        before={"mentor_id": current.mentor_id} if current else None,
        after={"mentor_id": mentor_id, "mentee_id": mentee_id, "reason": reason},
    )
    now = utcnow()
    for recipient, zh, en in (
        (mentor_id, f"你成为 {mentee.name} 的导师。", f"You now mentor {mentee.name}."),
        (mentee_id, "你的导师已安排。", "Your mentor has been assigned."),
    ):
        await publisher.publish(
            session,
            LearningReminder(
                recipient_id=recipient,
                about_employee_id=mentee_id,
                kind="mentor_assigned",
                stage="notice",
                subject_id=assignment.assignment_id,
                text_zh=zh,
                text_en=en,
                occurred_at=now,
            ),
        )
    await _close_reassignment_if_done(session, current.mentor_id if current else None)
    return assignment


async def _close_reassignment_if_done(session: AsyncSession, mentor_id: str | None) -> None:
    if mentor_id is None:
        return
    open_ = await repository.open_reassignment(session, mentor_id)
    if open_ is not None and not await repository.mentees_of(session, mentor_id):
        open_.status = "done"
        open_.closed_at = utcnow()
        await session.flush()


async def task_or_404(session: AsyncSession, task_id: str) -> MentorTask:
    task = await session.get(MentorTask, task_id)
    if task is None:
        raise NotFound(f"Unknown mentor task {task_id!r}.")
    return task


async def add_evidence(
    session: AsyncSession,
    settings: LearningSettings,
    actor: Principal,
    task: MentorTask,
    data: bytes,
    media_type: str,
    filename: str,
) -> Evidence:
    if task.status != "open":
        raise Conflict("The task is already submitted.", field="task_id")
    try:
        check(data, media_type, settings.evidence_types, settings.evidence_max_bytes)
    except EvidenceProblem as exc:
        if exc.status == 413:
            raise PayloadTooLarge(exc.message, field=exc.field) from exc
        if exc.status == 415:
            raise UnsupportedMediaType(exc.message, field=exc.field) from exc
        raise Unprocessable(exc.message, field=exc.field) from exc
    if len(await repository.evidence_of(session, task.task_id)) >= 10:
        raise Conflict("A task keeps at most 10 files.", field="file")
    evidence = Evidence(
        evidence_id=str(uuid.uuid4()),
        task_id=task.task_id,
        filename=safe_filename(filename),
        media_type=media_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        uploaded_by=actor.subject,
        uploaded_at=utcnow(),
    )
    session.add(evidence)
    await session.flush()
    return evidence


async def submit(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    actor: Principal,
    task: MentorTask,
    text: str,
    day: dt.date,
) -> MentorTask:
    if task.status != "open":
        raise Conflict("The task is already submitted.", field="task_id")
    if not text.strip():
        raise Unprocessable("Write the record, comment or notes.", field="text")
    now = utcnow()
    task.status = "submitted"
    task.text = text.strip()
    task.submitted_at = now
    await session.flush()
    week_tasks = [
        t
        for t in await repository.tasks(session, mentee_id=task.mentee_id, week=task.week)
        if t.assignment_id == task.assignment_id
    ]
    done = sum(1 for t in week_tasks if t.status == "submitted")
    rate = (Decimal(done) / Decimal(max(len(week_tasks), 1))).quantize(Decimal("0.0001"))
    await publisher.publish(
        session,
        MentorTaskCompleted(
            mentor_id=task.mentor_id,
            mentee_id=task.mentee_id,
            task_id=task.task_id,
            week=task.week,
            kind=task.kind,
            task_completion_rate=rate,
            on_time=day <= task.due_on,
            occurred_at=now,
        ),
    )
    return task


async def rate(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    mentee_id: str,
    mentor_id: str,
    score: int,
    week: str,
    comment: str | None,
) -> tuple[MentorRating, Decimal, bool, Reassignment | None]:
    mentor = await session.get(Mentor, mentor_id)
    if mentor is None:
        raise NotFound(f"{mentor_id!r} is not a mentor.")
    assignment = await repository.active_assignment(session, mentee_id)
    if assignment is None or assignment.mentor_id != mentor_id:
        raise Unprocessable(f"{mentor_id!r} is not your mentor.", field="mentor_id")
    if not 1 <= score <= 10:
        raise Unprocessable("A rating is 1-10.", field="score")
    for r in await repository.ratings_of(session, mentor_id):
        if r.mentee_id == mentee_id and r.week == week:
            raise Conflict(f"You already rated your mentor for {week}.", field="week")
    now = utcnow()
    rating = MentorRating(
        rating_id=str(uuid.uuid4()),
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        week=week,
        score=score,
        comment=comment,
        created_at=now,
    )
    session.add(rating)
    await session.flush()
    latest: dict[str, int] = {}
    for r in await repository.ratings_of(session, mentor_id):
        latest[r.mentee_id] = r.score  # by week, then entry: the last wins
    average = rating_average(latest) or Decimal(score)
    flagged = below_threshold(average, Decimal(settings.mentor_rating_threshold))
    reassignment = await repository.open_reassignment(session, mentor_id)
    if flagged and not mentor.flagged:
        mentor.flagged = True
        mentor.updated_at = now
        if reassignment is None:
            reassignment = Reassignment(
                reassignment_id=str(uuid.uuid4()),
                mentor_id=mentor_id,
                status="open",
                average=str(average),
                opened_at=now,
            )
            session.add(reassignment)
        await publisher.publish(
            session,
            LearningReminder(
                recipient_id="hr",
                about_employee_id=mentor_id,
                kind="mentor_flagged",
                stage="notice",
                subject_id=reassignment.reassignment_id,
                text_zh=f"导师 {mentor_id} 的评分 {average} 低于 "
                f"{settings.mentor_rating_threshold}，请为其学员更换导师。",
                text_en=f"Mentor {mentor_id} is rated {average}, below "
                f"{settings.mentor_rating_threshold}: reassign their mentees.",
                occurred_at=now,
            ),
        )
    elif not flagged and mentor.flagged:
        mentor.flagged = False  # ratings recovered: takes mentees again
        mentor.updated_at = now
    await session.flush()
    await publisher.publish(
        session,
        MentorRated(
            mentor_id=mentor_id,
            mentee_id=mentee_id,
            week=week,
            rating=score,
            average=average,
            flagged=flagged,
            rated_at=now,
        ),
    )
    return rating, average, flagged, reassignment if flagged else None


async def sweep(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    day: dt.date,
) -> dict[str, int]:
    """This week's tasks for every active assignment; overdue tasks remind the mentor once,
    then escalate to the mentor's manager (or HR) once."""
    counts = {"tasks_created": 0, "task_reminders": 0, "task_escalations": 0}
    monday = _monday(day)
    for assignment in await repository.all_active(session):
        counts["tasks_created"] += len(await ensure_week(session, assignment, monday))
    now = utcnow()
    for task in await repository.open_tasks_due_before(session, day):
        stage = overdue_stage(task.due_on, day, False, settings.escalate_after_days)
        if stage == "remind" and task.reminded_at is None:
            task.reminded_at = now
            recipient = task.mentor_id
            counts["task_reminders"] += 1
        elif stage == "escalate" and task.escalated_at is None:
            task.escalated_at = now
            task.reminded_at = task.reminded_at or now
            mentor = await people.get(session, task.mentor_id)
            recipient = (mentor.manager_id if mentor else None) or "hr"
            counts["task_escalations"] += 1
        else:
            continue
        _, zh, en = TASK_KINDS[task.kind]
        await publisher.publish(
            session,
            LearningReminder(
                recipient_id=recipient,
                about_employee_id=task.mentee_id,
                kind="mentor_task_overdue",
                stage=stage,
                subject_id=task.task_id,
                due_on=task.due_on,
                text_zh=f"导师任务逾期：{zh}（学员 {task.mentee_id}，{task.week}）。",
                text_en=f"Mentor task overdue: {en} (mentee {task.mentee_id}, {task.week}).",
                occurred_at=now,
            ),
        )
    await session.flush()
    return counts


def this_week(day: dt.date) -> str:
    return iso_week(day)


def week_monday(week: str) -> dt.date:
    return week_bounds(week)[0]


async def on_leaver(
    session: AsyncSession, publisher: Publisher, employee_id: str, day: dt.date
) -> None:
    """A person left: their mentoring ends (open tasks dropped); a mentor who left takes no
    one new and their mentees need another mentor (a reassignment opens for HR)."""
    current = await repository.active_assignment(session, employee_id)
    if current is not None:
        current.status, current.ended_on, current.end_reason = "ended", day, "mentee left"
        for task in await repository.tasks(session, mentee_id=employee_id):
            if task.assignment_id == current.assignment_id and task.status == "open":
                await session.delete(task)
    mentor = await session.get(Mentor, employee_id)
    if mentor is not None and mentor.active:
        mentor.active = False
        mentor.updated_at = utcnow()
        mentees = await repository.mentees_of(session, employee_id)
        if mentees and await repository.open_reassignment(session, employee_id) is None:
            now = utcnow()
            reassignment = Reassignment(
                reassignment_id=str(uuid.uuid4()),
                mentor_id=employee_id,
                status="open",
                average="-",
                opened_at=now,
            )
            session.add(reassignment)
            await publisher.publish(
                session,
                LearningReminder(
                    recipient_id="hr",
                    about_employee_id=employee_id,
                    kind="mentor_flagged",
                    stage="notice",
                    subject_id=reassignment.reassignment_id,
                    text_zh=f"导师 {employee_id} 已离职，请为其 {len(mentees)} 名学员更换导师。",
                    text_en=f"Mentor {employee_id} left: reassign their {len(mentees)} mentees.",
                    occurred_at=now,
                ),
            )
    await session.flush()
