"""Requisitions and their pipeline: HR and recruiters run it; a requisition's hiring
managers see it, its ranked candidates and give interview feedback."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhanli_shared.auth import CurrentPrincipal, Role, require_roles
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep
from zhanli_talent.access import RECRUITING_STAFF, is_staff, require_requisition
from zhanli_talent.candidates import repository as candidates_repo
from zhanli_talent.candidates.models import Candidate
from zhanli_talent.profiles import repository as profiles_repo
from zhanli_talent.requisitions import repository, service
from zhanli_talent.requisitions.models import Application
from zhanli_talent.requisitions.schemas import (
    ApplicationRead,
    ApplicationWrite,
    FeedbackWrite,
    HireWrite,
    InterviewRead,
    InterviewWrite,
    RankPage,
    ReminderRunRead,
    RequisitionRead,
    RequisitionWrite,
    RescoreJobRead,
    Stage,
    TransitionWrite,
)
from zhanli_talent.settings import talent_settings

router = APIRouter(prefix="/api/v1/talent", tags=["talent: pipeline"])
STAFF = tuple(RECRUITING_STAFF)


def _app_read(app: Application, cand: Candidate | None = None) -> ApplicationRead:
    out = ApplicationRead.model_validate(app)
    if cand is not None:
        out = out.model_copy(update={"candidate_name": cand.name, "skills": cand.skills or []})
    return out


@router.post(
    "/requisitions",
    response_model=RequisitionRead,
    status_code=201,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def create_requisition(
    body: RequisitionWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> RequisitionRead:
    req = await service.create_requisition(session, publisher, body, actor=principal)
    return RequisitionRead.model_validate(req)


@router.get("/requisitions", response_model=list[RequisitionRead])
async def list_requisitions(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RequisitionRead]:
    """Every requisition for HR and recruiters; a hiring manager's own otherwise."""
    subject = None if is_staff(principal) else principal.subject
    return [
        RequisitionRead.model_validate(r)
        for r in await repository.list_visible(session, subject, limit, offset)
    ]


@router.get("/requisitions/{requisition_id}", response_model=RequisitionRead)
async def read_requisition(
    requisition_id: str, principal: CurrentPrincipal, session: SessionDep
) -> RequisitionRead:
    req = await service.get_requisition(session, requisition_id)
    require_requisition(principal, req)
    return RequisitionRead.model_validate(req)


@router.post(
    "/requisitions/{requisition_id}/applications",
    response_model=ApplicationRead,
    status_code=201,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def apply(
    requisition_id: str,
    body: ApplicationWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> ApplicationRead:
    """Put a candidate into the requisition's pipeline (stage ``applied``), scored at
    once against the job family's active profile, with the reasons."""
    app = await service.apply(
        session, publisher, requisition_id, body.candidate_id, actor=principal
    )
    return _app_read(app, await candidates_repo.get(session, app.candidate_id))


@router.get("/requisitions/{requisition_id}/candidates", response_model=RankPage)
async def rank_candidates(
    requisition_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    pool: Annotated[str | None, Query(pattern="^(elimination|review|focus)$")] = None,
    stage: Stage | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    skill: Annotated[list[str] | None, Query(max_length=20)] = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RankPage:
    """The requisition's candidates, best match first, with filters (pool, stage, score
    range, skills: every one named must be in the resume). Closed applications (hired,
    rejected, withdrawn) only with ``include_closed`` or their ``stage``."""
    req = await service.get_requisition(session, requisition_id)
    require_requisition(principal, req)
    apps = await repository.applications_of_requisition(session, requisition_id)
    cands = await candidates_repo.many(session, [a.candidate_id for a in apps])
    ranked = service.rank(
        apps,
        cands,
        pool=pool,
        stage=stage.value if stage else None,
        min_score=min_score,
        max_score=max_score,
        skills=[s.strip().lower() for s in (skill or [])],
        include_closed=include_closed,
    )
    profile = await profiles_repo.active(session, req.job_family)
    page = ranked[offset : offset + limit]
    return RankPage(
        requisition_id=req.id,
        profile_version=profile.version if profile else None,
        total=len(ranked),
        counts_by_pool=dict(Counter(a.pool or "unscored" for a in ranked)),
        items=[_app_read(a, cands.get(a.candidate_id)) for a in page],
        limit=limit,
        offset=offset,
    )


async def _visible_application(
    session: SessionDep, principal: CurrentPrincipal, application_id: str
) -> Application:
    app = await service.get_application(session, application_id)
    require_requisition(principal, await service.get_requisition(session, app.requisition_id))
    return app


@router.get("/applications/{application_id}", response_model=ApplicationRead)
async def read_application(
    application_id: str, principal: CurrentPrincipal, session: SessionDep
) -> ApplicationRead:
    """One application: stage, history, the score and its explanation."""
    app = await _visible_application(session, principal, application_id)
    return _app_read(app, await candidates_repo.get(session, app.candidate_id))


@router.post(
    "/applications/{application_id}/transitions",
    response_model=ApplicationRead,
    dependencies=[Depends(require_roles(*STAFF, Role.SALES_MANAGER))],
)
async def move_application(
    application_id: str,
    body: TransitionWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> ApplicationRead:
    """Move to the next stage (applied -> screened -> interview -> offer), or reject
    (with the reviewer's reason) or withdraw. Audited; the score never moves anyone."""
    await _visible_application(session, principal, application_id)
    app = await service.transition(session, publisher, application_id, body, actor=principal)
    return _app_read(app, await candidates_repo.get(session, app.candidate_id))


@router.post(
    "/applications/{application_id}/hire",
    response_model=ApplicationRead,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def hire(
    application_id: str,
    body: HireWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> ApplicationRead:
    """Hire from the offer stage: publishes ``zhanli.talent.candidate_hired.v1`` (match
    score, pool, profile version) and the directory creates the person in probation."""
    app = await service.hire(session, publisher, application_id, body, actor=principal)
    return _app_read(app, await candidates_repo.get(session, app.candidate_id))


@router.post(
    "/applications/{application_id}/interviews",
    response_model=InterviewRead,
    status_code=201,
    dependencies=[Depends(require_roles(*STAFF, Role.SALES_MANAGER))],
)
async def schedule_interview(
    application_id: str,
    body: InterviewWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> InterviewRead:
    await _visible_application(session, principal, application_id)
    interview = await service.schedule_interview(
        session, publisher, application_id, body, actor=principal
    )
    return InterviewRead.model_validate(interview)


@router.get("/applications/{application_id}/interviews", response_model=list[InterviewRead])
async def list_interviews(
    application_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[InterviewRead]:
    await _visible_application(session, principal, application_id)
    return [
        InterviewRead.model_validate(i)
        for i in await repository.interviews_of(session, [application_id])
    ]


@router.put("/interviews/{interview_id}/feedback", response_model=InterviewRead)
async def submit_feedback(
    interview_id: str,
    body: FeedbackWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> InterviewRead:
    """The interviewer's ratings (1-5 per criterion), recommendation and notes; the
    application is scored again (``interview.<criterion>`` traits)."""
    interview = await repository.interview(session, interview_id)
    if interview is None:
        raise NotFound(f"Unknown interview {interview_id!r}.")
    if interview.interviewer_id != principal.subject and not is_staff(principal):
        raise OutOfScope(f"Unknown interview {interview_id!r}.")
    interview = await service.submit_feedback(
        session, publisher, interview_id, body, actor=principal
    )
    return InterviewRead.model_validate(interview)


@router.get(
    "/rescore-jobs/{job_id}",
    response_model=RescoreJobRead,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def read_rescore_job(job_id: str, session: SessionDep) -> RescoreJobRead:
    """A bulk re-scoring's progress (``done`` of ``total``) and outcome."""
    job = await repository.rescore_job(session, job_id)
    if job is None:
        raise NotFound(f"Unknown re-scoring job {job_id!r}.")
    return RescoreJobRead.model_validate(job)


@router.post(
    "/reminders/run",
    response_model=ReminderRunRead,
    dependencies=[Depends(require_roles(Role.HR_ADMIN, Role.INTEGRATION))],
)
async def run_reminders(
    session: SessionDep, publisher: PublisherDep, runtime: RuntimeDep
) -> ReminderRunRead:
    """Publish the reminders due now (each once). The service also does this every
    ``ZHANLI_TALENT_REMINDER_INTERVAL_S``."""
    sent = await service.send_reminders(session, publisher, talent_settings(runtime))
    return ReminderRunRead(sent=sum(sent.values()), by_kind=sent)
