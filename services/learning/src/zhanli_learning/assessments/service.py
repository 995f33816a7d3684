"""Recording assessments: the scores, the week's skill improvement (published for
commission's flexible probation target) and, for a first assessment arriving after a path
was planned without one, the path planned again from it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.assessments import repository
from zhanli_learning.assessments.models import Assessment
from zhanli_learning.assessments.schemas import AssessmentKind, AssessmentWrite
from zhanli_learning.catalogue import repository as catalogue
from zhanli_learning.core.progress import iso_week, weekly_improvement
from zhanli_learning.paths import repository as paths_repo
from zhanli_learning.paths import service as paths
from zhanli_learning.settings import LearningSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Unprocessable
from zhanli_shared.events.contracts.learning import SkillImprovementMeasured
from zhanli_shared.events.outbox import Publisher


async def record(
    session: AsyncSession,
    publisher: Publisher,
    settings: LearningSettings,
    actor: Principal,
    person: Person,
    data: AssessmentWrite,
) -> tuple[list[Assessment], str, Decimal | None, bool]:
    known = await catalogue.skill_ids(session)
    seen: set[str] = set()
    for i, s in enumerate(data.scores):
        if s.skill_id not in known:
            raise Unprocessable(f"Unknown skill {s.skill_id!r}.", field=f"scores.{i}.skill_id")
        if s.skill_id in seen:
            raise Unprocessable(
                f"Skill {s.skill_id!r} is scored twice.", field=f"scores.{i}.skill_id"
            )
        seen.add(s.skill_id)
    had_any = bool(await repository.of_person(session, person.employee_id))
    now = utcnow()
    rows = []
    for s in data.scores:
        row = Assessment(
            assessment_id=str(uuid.uuid4()),
            employee_id=person.employee_id,
            skill_id=s.skill_id,
            score=s.score,
            assessed_on=data.assessed_on,
            kind=data.kind.value,
            source=data.source,
            created_by=actor.subject,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="learning.assessment.recorded",
        entity_type="learning_assessment",
        entity_id=person.employee_id,
        before=None,
        after={
            "kind": data.kind.value,
            "assessed_on": data.assessed_on,
            "scores": {s.skill_id: s.score for s in data.scores},
        },
    )
    week = iso_week(data.assessed_on)
    improvement = weekly_improvement(await repository.scores(session, person.employee_id), week)
    if improvement is not None:
        await publisher.publish(
            session,
            SkillImprovementMeasured(
                employee_id=person.employee_id,
                week=week,
                improvement=max(min(improvement, Decimal(100)), Decimal(-100)),
                measured_at=now,
            ),
        )
    regenerated = False
    if data.kind == AssessmentKind.INITIAL or not had_any:
        path = await paths_repo.path_of(session, person.employee_id)
        untouched = path is not None and all(
            i.status == "planned" for i in await paths_repo.items(session, path.path_id)
        )
        if path is not None and untouched and path.source != "hr" and path.version == 1:
            await paths.generate(
                session, publisher, settings, person, source="assessment", replace=True
            )
            regenerated = True
        elif path is None and person.status == "probation":
            regenerated = (
                await paths.generate(session, publisher, settings, person, source="assessment")
                is not None
            )
    return rows, week, improvement, regenerated
