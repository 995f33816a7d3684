"""Assessment routes: HR, the person's management chain or mentor record; whoever may see
the person's learning reads."""

from __future__ import annotations

from fastapi import APIRouter

from zhanli_learning.access import may_assess, mentor_of, person_or_404, visible_person
from zhanli_learning.assessments import repository, service
from zhanli_learning.assessments.schemas import (
    AssessmentRead,
    AssessmentResult,
    AssessmentSummary,
    AssessmentWrite,
    SkillLevel,
)
from zhanli_learning.catalogue.models import JobFamily
from zhanli_learning.settings import learning_settings
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.errors import Forbidden
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/learning", tags=["learning assessments"])


@router.post("/people/{employee_id}/assessments", response_model=AssessmentResult, status_code=201)
async def record_assessment(
    employee_id: str,
    body: AssessmentWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> AssessmentResult:
    """Record skill scores (0-100) of one assessment. A re-assessment publishes the week's
    skill improvement (commission lowers a probation target above 10 %)."""
    person = await person_or_404(session, employee_id)
    if not may_assess(principal, person, await mentor_of(session, employee_id)):
        raise Forbidden("Only HR, the manager or the mentor records assessments.")
    rows, week, improvement, regenerated = await service.record(
        session, publisher, learning_settings(runtime), principal, person, body
    )
    return AssessmentResult(
        employee_id=employee_id,
        recorded=[AssessmentRead.model_validate(r) for r in rows],
        week=week,
        improvement=improvement,
        path_regenerated=regenerated,
    )


@router.get("/people/{employee_id}/assessments", response_model=AssessmentSummary)
async def read_assessments(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep
) -> AssessmentSummary:
    person = await visible_person(session, principal, employee_id)
    family = await session.get(JobFamily, person.job_role)
    required = family.required_levels if family else {}
    latest = await repository.latest(session, employee_id)
    return AssessmentSummary(
        employee_id=employee_id,
        latest=[
            SkillLevel(
                skill_id=k, score=a.score, assessed_on=a.assessed_on, required=required.get(k)
            )
            for k, a in sorted(latest.items())
        ],
        history=[
            AssessmentRead.model_validate(a)
            for a in await repository.of_person(session, employee_id)
        ],
    )
