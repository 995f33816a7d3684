"""Path use cases: generate a new hire's path, HR adjustments (each kept as a change and
audited), progress (start, complete with a quiz score), overdue reminders then escalation,
and courses recommended by KPI. Add and flush, never commit."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import today
from zhanli_learning.assessments import repository as assessments
from zhanli_learning.catalogue import service as catalogue
from zhanli_learning.catalogue.models import Course, JobFamily
from zhanli_learning.core import paths as core
from zhanli_learning.core.progress import completion_rate, overdue_stage
from zhanli_learning.paths import repository
from zhanli_learning.paths.models import LearningPath, PathChange, PathItem
from zhanli_learning.settings import LearningSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.contracts.learning import (
    LearningReminder,
    PathGenerated,
    TrainingProgressed,
)
from zhanli_shared.events.outbox import Publisher

DONE = "completed"
OPEN = ("planned", "started")


def policy(settings: LearningSettings, family: JobFamily) -> core.LoadPolicy:
    return core.LoadPolicy(
        probation_days=family.probation_days or settings.probation_days,
        base_hours=settings.base_weekly_hours,
        fast_hours=settings.fast_weekly_hours,
        max_hours=settings.max_weekly_hours,
        fast_learner_at=settings.fast_learner_at,
    )


def _actor_id(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.subject


async def _change(
    session: AsyncSession,
    publisher: Publisher,
    path: LearningPath,
    actor: Principal | str,
    action: str,
    detail: dict[str, Any],
    before: dict[str, Any] | None = None,
) -> None:
    session.add(
        PathChange(
            change_id=str(uuid.uuid4()),
            path_id=path.path_id,
            version=path.version,
            action=action,
            detail=audit.jsonable(detail),
            actor=_actor_id(actor),
            at=utcnow(),
        )
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action=f"learning.path.{action}",
        entity_type="learning_path",
        entity_id=path.path_id,
        before=before,
        after={"employee_id": path.employee_id, "version": path.version, **detail},
    )


async def generate(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    person: Person,
    *,
    source: str,
    actor: Principal | str = "system",
    start_on: dt.date | None = None,
    replace: bool = False,
    family_id: str | None = None,
) -> LearningPath | None:
    """The person's path (a new one, or the stored one unless ``replace``). None when the
    person's job role has no competency profile (nothing to plan against)."""
    existing = await repository.path_of(session, person.employee_id)
    if existing is not None and not replace:
        return existing
    family = await session.get(JobFamily, family_id) if family_id else None
    family = family or await session.get(JobFamily, person.job_role)
    if family is None:
        return None
    if existing is not None:
        old = await repository.items(session, existing.path_id, removed=True)
        if any(i.status != "planned" and i.status != "removed" for i in old):
            raise Conflict(
                "Learning has started on this path: adjust its courses instead of regenerating it.",
                field="regenerate",
            )
        for item in old:
            await session.delete(item)
        await session.flush()
    latest = await assessments.latest(session, person.employee_id)
    assessed = {k: a.score for k, a in latest.items()}
    agility = assessed.get(settings.agility_skill)
    start = start_on or person.hired_on or today(settings.timezone)
    cat = await catalogue.compiled(session)
    pol = policy(settings, family)
    plan = core.generate_path(
        cat,
        family.family_id,
        {k: int(v) for k, v in family.required_levels.items()},
        assessed,
        start,
        agility=agility,
        policy=pol,
    )
    now = utcnow()
    if existing is None:
        path = LearningPath(
            path_id=str(uuid.uuid4()),
            employee_id=person.employee_id,
            version=1,
            created_at=now,
        )
        session.add(path)
        action = "generated"
    else:
        path = existing
        path.version += 1
        action = "regenerated"
    path.job_family = family.family_id
    path.start_on = start
    path.probation_ends_on = plan.probation_ends_on
    path.weekly_hours = plan.weekly_hours
    path.gaps = plan.gaps
    path.open_gaps = plan.open_gaps
    path.source = source
    path.updated_at = now
    await session.flush()
    for planned in plan.items:
        session.add(
            PathItem(
                item_id=str(uuid.uuid4()),
                path_id=path.path_id,
                employee_id=person.employee_id,
                course_id=planned.course_id,
                position=planned.position,
                reason=planned.reason,
                closes=planned.closes,
                start_on=planned.start_on,
                due_on=planned.due_on,
                within_probation=planned.within_probation,
                status="planned",
            )
        )
    await session.flush()
    await _change(
        session,
        publisher,
        path,
        actor,
        action,
        {
            "source": source,
            "courses": [i.course_id for i in plan.items],
            "gaps": plan.gaps,
            "open_gaps": plan.open_gaps,
            "weekly_hours": str(plan.weekly_hours),
        },
    )
    await publisher.publish(
        session,
        PathGenerated(
            employee_id=person.employee_id,
            path_id=path.path_id,
            job_family=family.family_id,
            courses=len(plan.items),
            total_hours=Decimal(str(round(plan.total_hours, 2))),
            weekly_hours=Decimal(str(plan.weekly_hours)),
            starts_on=start,
            probation_ends_on=plan.probation_ends_on,
            fits_in_probation=plan.fits_in_probation,
            source=source,
            generated_at=now,
        ),
    )
    await publisher.publish(
        session,
        LearningReminder(
            recipient_id=person.employee_id,
            about_employee_id=person.employee_id,
            kind="path_ready",
            stage="notice",
            subject_id=path.path_id,
            due_on=plan.items[0].due_on if plan.items else None,
            text_zh=f"你的学习路径已生成：{len(plan.items)} 门课程，每周约 "
            f"{plan.weekly_hours:g} 小时。",
            text_en=f"Your learning path is ready: {len(plan.items)} courses, about "
            f"{plan.weekly_hours:g} h a week.",
            occurred_at=now,
        ),
    )
    return path


async def publish_progress(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    path: LearningPath,
    item: PathItem,
) -> None:
    items = await repository.items(session, path.path_id)
    done = sum(1 for i in items if i.status == DONE)
    day = today(settings.timezone)
    overdue = sum(1 for i in items if i.status in OPEN and i.due_on < day)
    await publisher.publish(
        session,
        TrainingProgressed(
            employee_id=path.employee_id,
            path_id=path.path_id,
            course_id=item.course_id,
            status=item.status,
            quiz_score=item.quiz_score,
            completion_rate=completion_rate(done, len(items)),
            completed_courses=done,
            total_courses=len(items),
            overdue_count=overdue,
            occurred_at=utcnow(),
        ),
    )


async def path_or_404(session: AsyncSession, employee_id: str) -> LearningPath:
    path = await repository.path_of(session, employee_id)
    if path is None:
        raise NotFound(f"{employee_id!r} has no learning path.")
    return path


async def item_or_404(session: AsyncSession, path: LearningPath, item_id: str) -> PathItem:
    item = await session.get(PathItem, item_id)
    if item is None or item.path_id != path.path_id or item.status == "removed":
        raise NotFound(f"Unknown path item {item_id!r}.")
    return item


async def add_course(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    path: LearningPath,
    course_id: str,
    *,
    actor: Principal | str,
    reason: str,
    due_on: dt.date | None = None,
    note: str | None = None,
) -> list[PathItem]:
    """Add a course (and its prerequisites missing from the path, first) after the path's
    last item, one week each unless ``due_on`` says when. The items added (none when the
    course is already on the path)."""
    course = await session.get(Course, course_id)
    if course is None or not course.active:
        raise Unprocessable(f"Unknown or retired course {course_id!r}.", field="course_id")
    items = await repository.items(session, path.path_id, removed=True)
    by_course = {i.course_id: i for i in items}
    current = by_course.get(course_id)
    if current is not None and current.status != "removed":
        return []
    cat = await catalogue.compiled(session)
    needed = cat.prerequisites_in_order(course_id)
    missing = [p for p in needed if p not in by_course or by_course[p].status == "removed"] + [
        course_id
    ]
    live = [i for i in items if i.status != "removed"]
    position = max((i.position for i in items), default=0)
    last_due = max((i.due_on for i in live), default=path.start_on - dt.timedelta(days=1))
    day = today(settings.timezone)
    added = []
    for cid in missing:
        position += 1
        start = max(last_due + dt.timedelta(days=1), day)
        due = due_on if (cid == course_id and due_on) else start + dt.timedelta(days=6)
        if due < start:
            raise Unprocessable("The due date is before the course can start.", field="due_on")
        old = by_course.get(cid)
        if old is not None:  # a removed item comes back
            await session.delete(old)
            await session.flush()
        item = PathItem(
            item_id=str(uuid.uuid4()),
            path_id=path.path_id,
            employee_id=path.employee_id,
            course_id=cid,
            position=position,
            reason=reason if cid == course_id else "prerequisite",
            closes={},
            start_on=start,
            due_on=due,
            within_probation=due <= path.probation_ends_on,
            status="planned",
            note=note if cid == course_id else None,
        )
        session.add(item)
        added.append(item)
        last_due = due
    path.version += 1
    path.updated_at = utcnow()
    await session.flush()
    await _change(
        session,
        publisher,
        path,
        actor,
        "course_added",
        {"courses": [i.course_id for i in added], "reason": reason, "note": note},
    )
    for item in added:
        await publish_progress(session, publisher, settings, path, item)
    return added


async def change_item(
    session: AsyncSession,
    publisher: Publisher,
    path: LearningPath,
    item: PathItem,
    *,
    actor: Principal,
    due_on: dt.date | None,
    note: str | None,
) -> PathItem:
    before = {"due_on": item.due_on, "note": item.note}
    if due_on is not None:
        if due_on < item.start_on:
            raise Unprocessable("The due date is before the course starts.", field="due_on")
        item.due_on = due_on
        item.within_probation = due_on <= path.probation_ends_on
        item.reminded_at = item.escalated_at = None
    if note is not None:
        item.note = note
    after = {"due_on": item.due_on, "note": item.note}
    if after == before:
        return item
    path.version += 1
    path.updated_at = utcnow()
    await session.flush()
    await _change(
        session,
        publisher,
        path,
        actor,
        "course_changed",
        {"course_id": item.course_id, **after},
        before={"course_id": item.course_id, **before},
    )
    return item


async def remove_item(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    path: LearningPath,
    item: PathItem,
    *,
    actor: Principal,
    reason: str | None,
) -> PathItem:
    if item.status == DONE:
        raise Conflict("A completed course stays on the path.", field="item_id")
    needs = []
    for other in await repository.items(session, path.path_id):
        course = await session.get(Course, other.course_id)
        if other.item_id != item.item_id and course and item.course_id in course.prerequisites:
            needs.append(other.course_id)
    if needs:
        raise Conflict(
            f"{item.course_id!r} is a prerequisite of {', '.join(needs)} on this path: "
            "remove those first.",
            field="item_id",
        )
    item.status = "removed"
    path.version += 1
    path.updated_at = utcnow()
    await session.flush()
    await _change(
        session,
        publisher,
        path,
        actor,
        "course_removed",
        {"course_id": item.course_id, "reason": reason},
    )
    await publish_progress(session, publisher, settings, path, item)
    return item


async def start(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    path: LearningPath,
    item: PathItem,
) -> PathItem:
    if item.status == DONE:
        raise Conflict("The course is already completed.", field="item_id")
    if item.status == "started":
        return item
    item.status = "started"
    item.started_at = utcnow()
    await session.flush()
    await publish_progress(session, publisher, settings, path, item)
    return item


async def complete(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    path: LearningPath,
    item: PathItem,
    quiz_score: int | None,
) -> PathItem:
    if item.status == DONE:
        raise Conflict("The course is already completed.", field="item_id")
    course = await session.get(Course, item.course_id)
    pass_score = course.quiz_pass_score if course else None
    if pass_score is not None:
        if quiz_score is None:
            raise Unprocessable("This course ends with a quiz: give its score.", field="quiz_score")
        if quiz_score < pass_score:
            raise Unprocessable(
                f"A quiz score of {quiz_score} is below the pass mark {pass_score}: the course "
                "stays open.",
                field="quiz_score",
            )
    items = {i.course_id: i for i in await repository.items(session, path.path_id)}
    pending = sorted(
        p
        for p in (course.prerequisites if course else [])
        if p in items and items[p].status != DONE
    )
    if pending:
        raise Conflict(f"Complete the prerequisites first: {', '.join(pending)}.", field="item_id")
    now = utcnow()
    item.status = DONE
    item.started_at = item.started_at or now
    item.completed_at = now
    item.quiz_score = quiz_score
    await session.flush()
    await publish_progress(session, publisher, settings, path, item)
    from zhanli_learning.onboarding import watch

    await watch.check(session, publisher, path.employee_id)
    return item


async def sweep_overdue(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    day: dt.date,
    managers: dict[str, str | None],
    left: frozenset[str] | set[str] = frozenset(),
) -> dict[str, int]:
    """Remind the learner of each overdue course once, then escalate to the manager once
    ``escalate_after_days`` later (never about people who left). ``managers``: employee
    id -> manager id."""
    counts = {"course_reminders": 0, "course_escalations": 0}
    now = utcnow()
    for item in await repository.open_items_due_before(session, day):
        if item.employee_id in left:
            continue
        stage = overdue_stage(item.due_on, day, False, settings.escalate_after_days)
        course = await session.get(Course, item.course_id)
        title_zh = course.title_zh if course else item.course_id
        title_en = course.title_en if course else item.course_id
        if stage == "remind" and item.reminded_at is None:
            item.reminded_at = now
            recipient = item.employee_id
            counts["course_reminders"] += 1
        elif stage == "escalate" and item.escalated_at is None:
            item.escalated_at = now
            item.reminded_at = item.reminded_at or now
            recipient = managers.get(item.employee_id) or "hr"
            counts["course_escalations"] += 1
        else:
            continue
        await publisher.publish(
            session,
            LearningReminder(
                recipient_id=recipient,
                about_employee_id=item.employee_id,
                kind="course_overdue",
                stage=stage,
                subject_id=item.item_id,
                due_on=item.due_on,
                text_zh=f"课程《{title_zh}》已逾期（截止 {item.due_on.isoformat()}）。",
                text_en=f"Course '{title_en}' is overdue (due {item.due_on.isoformat()}).",
                occurred_at=now,
            ),
        )
    await session.flush()
    return counts
