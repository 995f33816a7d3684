"""Events -> paths: a person entering probation (the directory) or hired (talent's
``candidate_hired``, whichever comes second finds the path planned) gets a path, and a
mentor when one with room is near them; KPI's training recommendation adds a course and
tells the person."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import people, today
from zhanli_learning.catalogue import service as catalogue
from zhanli_learning.catalogue.models import Course
from zhanli_learning.mentoring import service as mentoring
from zhanli_learning.mentoring.auto import pick_mentor
from zhanli_learning.onboarding import watch
from zhanli_learning.paths import repository, service
from zhanli_learning.settings import LearningSettings
from zhanli_shared.db import utcnow
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated, TrainingRecommended
from zhanli_shared.events.contracts.learning import LearningReminder
from zhanli_shared.events.contracts.talent import CandidateHired
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher

log = structlog.get_logger("zhanli.learning.paths")


def register(registry: HandlerRegistry, settings: LearningSettings, publisher: Publisher) -> None:
    @registry.on(EmployeeUpserted)
    async def on_employee(
        session: AsyncSession, event: EmployeeUpserted, envelope: CloudEvent
    ) -> None:
        await people.on_employee_upserted(session, event, envelope)
        if event.status.value == "left":
            await mentoring.on_leaver(
                session, publisher, event.employee_id, today(settings.timezone)
            )
            return
        if event.status.value != "probation":
            return
        if await repository.path_of(session, event.employee_id) is not None:
            return
        person = await people.get(session, event.employee_id)
        assert person is not None
        path = await service.generate(session, publisher, settings, person, source="directory")
        if path is None:
            log.info("path.no_profile", employee_id=person.employee_id, role=person.job_role)
        mentor_id = await pick_mentor(session, person)
        if mentor_id is not None:
            await mentoring.assign(
                session,
                publisher,
                "system",
                person.employee_id,
                mentor_id,
                today(settings.timezone),
                reason="on hire",
            )

    @registry.on(CandidateHired)
    async def on_hire(session: AsyncSession, event: CandidateHired, envelope: CloudEvent) -> None:
        """Talent's hire: plan the path from the hire's job family as soon as the person is
        in the directory projection (else the directory's probation event plans it)."""
        person = await people.get(session, event.employee_id)
        if person is None or await repository.path_of(session, event.employee_id) is not None:
            return
        await service.generate(
            session,
            publisher,
            settings,
            person,
            source="hire",
            start_on=event.hired_on,
            family_id=event.job_family,
        )
        mentor_id = await pick_mentor(session, person)
        if mentor_id is not None:
            await mentoring.assign(
                session,
                publisher,
                "system",
                person.employee_id,
                mentor_id,
                today(settings.timezone),
                reason="on hire",
            )

    @registry.on(KpiScoreUpdated)
    async def on_kpi_score(
        session: AsyncSession, event: KpiScoreUpdated, envelope: CloudEvent
    ) -> None:
        await watch.record_score(session, event.employee_id, event.period, event.score)
        await watch.check(session, publisher, event.employee_id)

    @registry.on(TrainingRecommended)
    async def on_recommendation(
        session: AsyncSession, event: TrainingRecommended, envelope: CloudEvent
    ) -> None:
        path = await repository.path_of(session, event.employee_id)
        if path is None:
            log.info("recommendation.no_path", employee_id=event.employee_id)
            return
        on_path = {i.course_id for i in await repository.items(session, path.path_id)}
        course_id = event.course_id
        if course_id is not None:
            course = await session.get(Course, course_id)
            if course is None or not course.active:
                log.warning("recommendation.unknown_course", course_id=course_id)
                course_id = None
        if course_id is None and event.skill_id:
            cat = await catalogue.compiled(session)
            course_id = next(
                (c for c in cat.by_skill.get(event.skill_id, []) if c not in on_path), None
            )
        if course_id is None:
            log.warning("recommendation.nothing_to_add", employee_id=event.employee_id)
            return
        added = await service.add_course(
            session,
            publisher,
            settings,
            path,
            course_id,
            actor="kpi",
            reason="kpi",
            note=f"KPI {event.indicator} {event.period}",
        )
        if not added:
            return
        course = await session.get(Course, course_id)
        assert course is not None
        why = f"（{event.reason}）" if event.reason else ""
        await publisher.publish(
            session,
            LearningReminder(
                recipient_id=event.employee_id,
                about_employee_id=event.employee_id,
                kind="course_recommended",
                stage="notice",
                subject_id=added[-1].item_id,
                due_on=added[-1].due_on,
                text_zh=f"根据你的 {event.indicator} 指标，已为你添加课程《{course.title_zh}》"
                f"{why}，截止 {added[-1].due_on.isoformat()}。",
                text_en=f"Because of your {event.indicator} indicator, the course "
                f"'{course.title_en}' was added to your path, due "
                f"{added[-1].due_on.isoformat()}.",
                occurred_at=utcnow(),
            ),
        )
