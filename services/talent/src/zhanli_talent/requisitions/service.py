"""Requisition use cases: the pipeline (every move by a person, audited), scoring and
ranking applications against the family's active profile, re-scoring jobs, interviews,
hires (published for the directory) and reminders."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.contracts.talent import (
    CandidateHired,
    MatchPool,
    PipelineReminderDue,
    ReminderKind,
)
from zhanli_shared.events.outbox import Publisher
from zhanli_talent.auditing import exact
from zhanli_talent.candidates import repository as candidates_repo
from zhanli_talent.candidates.models import Assessment, Candidate
from zhanli_talent.core import scoring
from zhanli_talent.models import service as models
from zhanli_talent.profiles import repository as profiles_repo
from zhanli_talent.profiles import service as profiles
from zhanli_talent.profiles.models import CompetencyProfile
from zhanli_talent.requisitions import repository
from zhanli_talent.requisitions.models import (
    Application,
    Interview,
    ReminderSent,
    Requisition,
    RescoreJob,
)
from zhanli_talent.requisitions.schemas import (
    NEXT,
    TERMINAL,
    FeedbackWrite,
    HireWrite,
    InterviewWrite,
    RequisitionWrite,
    Stage,
    TransitionWrite,
)
from zhanli_talent.settings import TalentSettings


async def create_requisition(
    session: AsyncSession, publisher: Publisher, data: RequisitionWrite, *, actor: Principal
) -> Requisition:
    req = Requisition(
        id=str(uuid.uuid4()),
        title=data.title,
        job_family=data.job_family,
        job_role=data.job_role,
        org_unit_id=data.org_unit_id,
        hiring_manager_ids=list(data.hiring_manager_ids),
        recruiter_id=data.recruiter_id,
        headcount=data.headcount,
        status="open",
        opened_on=data.opened_on or utcnow().date(),
        created_by=actor.subject,
        created_at=utcnow(),
    )
    session.add(req)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.requisition.created",
        entity_type="requisition",
        entity_id=req.id,
        before=None,
        after={
            "title": req.title,
            "job_family": req.job_family,
            "hiring_manager_ids": req.hiring_manager_ids,
        },
    )
    return req


async def get_requisition(session: AsyncSession, requisition_id: str) -> Requisition:
    req = await repository.get(session, requisition_id)
    if req is None:
        raise NotFound(f"Unknown requisition {requisition_id!r}.")
    return req


async def get_application(session: AsyncSession, application_id: str) -> Application:
    app = await repository.application(session, application_id)
    if app is None:
        raise NotFound(f"Unknown application {application_id!r}.")
    return app


# --- features and scores ---------------------------------------------------------------


def candidate_traits(
    assessments: Sequence[Assessment], interviews: Sequence[Interview]
) -> dict[str, float]:
    """Latest result per assessment kind; mean submitted rating per interview criterion
    (as ``interview.<criterion>``)."""
    traits: dict[str, float] = {}
    for a in sorted(assessments, key=lambda a: (a.taken_on, a.recorded_at)):
        traits[a.kind] = float(a.score)
    ratings: dict[str, list[float]] = defaultdict(list)
    for i in interviews:
        if i.submitted_at is not None:
            for criterion, value in (i.ratings or {}).items():
                ratings[criterion].append(float(value))
    for criterion, values in ratings.items():
        traits[f"interview.{criterion}"] = sum(values) / len(values)
    return traits


def _explanation(result: scoring.MatchResult) -> dict[str, Any]:
    return {
        "reasons_up": [asdict(r) for r in result.reasons_up],
        "reasons_down": [asdict(r) for r in result.reasons_down],
        "keywords_matched": result.keywords_matched,
        "keywords_missing": result.keywords_missing,
        "traits_missing": result.traits_missing,
    }


async def score_applications(
    session: AsyncSession, apps: Sequence[Application], profile: CompetencyProfile | None
) -> int:
    """Score ``apps`` against ``profile`` (all of one job family); returns how many
    changed pool. Without a profile the scores are cleared."""
    if not apps:
        return 0
    cands = await candidates_repo.many(session, [a.candidate_id for a in apps])
    assessments: dict[str, list[Assessment]] = defaultdict(list)
    for a in await candidates_repo.assessments_of(session, list(cands)):
        assessments[a.candidate_id].append(a)
    interviews: dict[str, list[Interview]] = defaultdict(list)
    for i in await repository.interviews_of(session, [a.id for a in apps]):
        interviews[i.application_id].append(i)
    now = utcnow()
    changed = 0
    if profile is None:
        for app in apps:
            app.score = app.rule_score = app.learned_probability = None
            app.pool = app.explanation = None
            app.profile_version, app.scored_at = None, now
        return 0
    spec = profiles.spec_of(profile)
    ordered = [cands[a.candidate_id] for a in apps]
    traits = [
        candidate_traits(assessments[c.id], interviews[a.id])
        for a, c in zip(apps, ordered, strict=True)
    ]
    learned, model_version = await models.learned_probabilities(session, profile, ordered, traits)
    for app, cand, known, p in zip(apps, ordered, traits, learned, strict=True):
        features = scoring.Candidate(
            counts=cand.token_counts or {}, length=cand.doc_length, traits=known
        )
        result = scoring.score(spec, features, p)
        if app.pool is not None and app.pool != result.pool.value:
            changed += 1
        app.score, app.rule_score = result.score, result.rule_score
        app.learned_probability = p
        app.pool, app.profile_version = result.pool.value, profile.version
        app.explanation = _explanation(result) | {"model_version": model_version}
        app.scored_at = now
    await session.flush()
    return changed


async def rescore_candidate(session: AsyncSession, candidate_id: str) -> None:
    """Re-score the candidate's open applications (after a new resume or assessment)."""
    by_family: dict[str, list[Application]] = defaultdict(list)
    for app in await repository.applications_of_candidate(session, candidate_id):
        if app.stage in TERMINAL:
            continue
        req = await get_requisition(session, app.requisition_id)
        by_family[req.job_family].append(app)
    for family, apps in by_family.items():
        await score_applications(session, apps, await profiles_repo.active(session, family))


async def apply(
    session: AsyncSession,
    publisher: Publisher,
    requisition_id: str,
    candidate_id: str,
    *,
    actor: Principal,
) -> Application:
    req = await get_requisition(session, requisition_id)
    if req.status != "open":
        raise Conflict("The requisition is closed.")
    cand = await candidates_repo.get(session, candidate_id)
    if cand is None:
        raise Unprocessable(f"Unknown candidate {candidate_id!r}.", field="candidate_id")
    if cand.merged_into:
        raise Unprocessable(
            f"Candidate {candidate_id} was merged into {cand.merged_into}.", field="candidate_id"
        )
    if await repository.application_for(session, requisition_id, candidate_id):
        raise Conflict("The candidate already applied to this requisition.")
    now = utcnow()
    app = Application(
        id=str(uuid.uuid4()),
        requisition_id=req.id,
        candidate_id=cand.id,
        stage=Stage.APPLIED.value,
        stage_changed_at=now,
        history=[{"stage": "applied", "at": now.isoformat(), "by": actor.subject}],
        next_step="screening",
        created_at=now,
    )
    session.add(app)
    await session.flush()
    await score_applications(session, [app], await profiles_repo.active(session, req.job_family))
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.application.created",
        entity_type="application",
        entity_id=app.id,
        before=None,
        after=_app_state(app),
    )
    return app


def _next_hint(current: Stage) -> str:
    if current not in NEXT:
        return " (it is closed)."
    return f" (next: {', '.join(sorted(s.value for s in NEXT[current]))})."


def _app_state(app: Application) -> dict[str, Any]:
    return exact(
        {
            "requisition_id": app.requisition_id,
            "candidate_id": app.candidate_id,
            "stage": app.stage,
            "score": app.score,
            "pool": app.pool,
            "profile_version": app.profile_version,
        }
    )


async def transition(
    session: AsyncSession,
    publisher: Publisher,
    application_id: str,
    data: TransitionWrite,
    *,
    actor: Principal,
) -> Application:
    app = await get_application(session, application_id)
    current, target = Stage(app.stage), Stage(data.to)
    if target not in NEXT.get(current, frozenset()):
        raise Unprocessable(
            f"An application in {current.value!r} cannot move to {target.value!r}"
            + (
                f" (next: {', '.join(sorted(s.value for s in NEXT[current]))})."
                if current in NEXT
                else "."
            ),
            field="to",
        )
    if target is Stage.REJECTED and not (data.reason and data.reason.strip()):
        raise Unprocessable(
            "A rejection needs the reviewer's reason: the match score is a recommendation, "
            "never a decision on its own.",
            field="reason",
        )
    before = _app_state(app)
    now = utcnow()
    app.stage, app.stage_changed_at = target.value, now
    app.history = [
        *app.history,
        {
            "stage": target.value,
            "at": now.isoformat(),
            "by": actor.subject,
            "reason": data.reason,
            "score_seen": app.score,
            "pool_seen": app.pool,
        },
    ]
    if target is Stage.SCREENED or target is Stage.REJECTED:
        app.pool_decision = "advance" if target is Stage.SCREENED else "reject"
    if target is Stage.OFFER:
        app.offer_sent_at = now
    app.next_step = data.next_step if target not in TERMINAL else None
    app.next_step_due = data.next_step_due if target not in TERMINAL else None
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action=f"talent.application.{target.value}",
        entity_type="application",
        entity_id=app.id,
        before=before,
        after=_app_state(app) | {"reason": data.reason},
    )
    return app


async def hire(
    session: AsyncSession,
    publisher: Publisher,
    application_id: str,
    data: HireWrite,
    *,
    actor: Principal,
) -> Application:
    app = await get_application(session, application_id)
    if app.stage != Stage.OFFER.value:
        raise Unprocessable(
            f"Only an application at the offer stage can be hired (this one: {app.stage}).",
            field="stage",
        )
    taken = [a for a in await repository.by_employee(session, data.employee_id) if a.id != app.id]
    if taken:
        raise Conflict(f"Employee id {data.employee_id} was already given to another hire.")
    req = await get_requisition(session, app.requisition_id)
    cand = await candidates_repo.get(session, app.candidate_id)
    assert cand is not None
    before = _app_state(app)
    now = utcnow()
    app.stage, app.stage_changed_at = Stage.HIRED.value, now
    app.employee_id, app.hired_on = data.employee_id, data.hired_on
    app.next_step = app.next_step_due = None
    app.history = [
        *app.history,
        {
            "stage": "hired",
            "at": now.isoformat(),
            "by": actor.subject,
            "employee_id": data.employee_id,
        },
    ]
    await session.flush()
    await publisher.publish(
        session,
        CandidateHired(
            employee_id=data.employee_id,
            candidate_id=cand.id,
            application_id=app.id,
            requisition_id=req.id,
            name=cand.name,
            org_unit_id=data.org_unit_id or req.org_unit_id,
            manager_id=data.manager_id or next(iter(req.hiring_manager_ids or []), None),
            job_role=req.job_role,
            job_family=req.job_family,
            hired_on=data.hired_on,
            match_score=Decimal(str(app.score)) if app.score is not None else None,
            pool=MatchPool(app.pool) if app.pool else None,
            profile_version=app.profile_version,
            hired_at=now,
        ),
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.application.hired",
        entity_type="application",
        entity_id=app.id,
        before=before,
        after=_app_state(app) | {"employee_id": data.employee_id, "hired_on": data.hired_on},
    )
    return app


# --- interviews ------------------------------------------------------------------------


async def schedule_interview(
    session: AsyncSession,
    publisher: Publisher,
    application_id: str,
    data: InterviewWrite,
    *,
    actor: Principal,
) -> Interview:
    app = await get_application(session, application_id)
    if app.stage in {s.value for s in TERMINAL}:
        raise Unprocessable(f"The application is {app.stage}.", field="application_id")
    interview = Interview(
        id=str(uuid.uuid4()),
        application_id=app.id,
        interviewer_id=data.interviewer_id,
        scheduled_at=data.scheduled_at,
        ratings={},
        created_at=utcnow(),
    )
    session.add(interview)
    app.next_step, app.next_step_due = "interview", data.scheduled_at
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.interview.scheduled",
        entity_type="application",
        entity_id=app.id,
        before=None,
        after={
            "interview_id": interview.id,
            "interviewer_id": data.interviewer_id,
            "scheduled_at": data.scheduled_at,
        },
    )
    return interview


async def submit_feedback(
    session: AsyncSession,
    publisher: Publisher,
    interview_id: str,
    data: FeedbackWrite,
    *,
    actor: Principal,
) -> Interview:
    interview = await repository.interview(session, interview_id)
    if interview is None:
        raise NotFound(f"Unknown interview {interview_id!r}.")
    first = interview.submitted_at is None
    interview.ratings, interview.recommendation = dict(data.ratings), data.recommendation
    interview.notes, interview.submitted_at = data.notes, utcnow()
    await session.flush()
    app = await get_application(session, interview.application_id)
    if app.stage not in {s.value for s in TERMINAL}:
        req = await get_requisition(session, app.requisition_id)
        await score_applications(
            session, [app], await profiles_repo.active(session, req.job_family)
        )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.interview.feedback_" + ("submitted" if first else "changed"),
        entity_type="application",
        entity_id=interview.application_id,
        before=None,
        after=exact(
            {
                "interview_id": interview.id,
                "ratings": interview.ratings,
                "recommendation": interview.recommendation,
                "notes": "changed" if data.notes else "unchanged",
            }
        ),
    )
    return interview


# --- ranking ---------------------------------------------------------------------------


def rank(
    apps: Sequence[Application],
    cands: dict[str, Candidate],
    *,
    pool: str | None = None,
    stage: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    skills: Sequence[str] = (),
    include_closed: bool = False,
) -> list[Application]:
    """Filter and order by score (best first; unscored last; ties by application id)."""
    out = []
    wanted = set(skills)
    for app in apps:
        if pool and app.pool != pool:
            continue
        if stage and app.stage != stage:
            continue
        if not stage and not include_closed and app.stage in {s.value for s in TERMINAL}:
            continue
        if min_score is not None and (app.score is None or app.score < min_score):
            continue
        if max_score is not None and (app.score is None or app.score > max_score):
            continue
        if wanted and not wanted <= set(cands[app.candidate_id].skills or []):
            continue
        out.append(app)
    return sorted(out, key=lambda a: (a.score is None, -(a.score or 0.0), a.id))


# --- re-scoring jobs -------------------------------------------------------------------


async def start_rescore(
    session: AsyncSession, profile: CompetencyProfile, *, actor: Principal
) -> RescoreJob:
    ids = await repository.open_application_ids_of_family(session, profile.job_family)
    job = RescoreJob(
        id=str(uuid.uuid4()),
        job_family=profile.job_family,
        profile_version=profile.version,
        status="running",
        total=len(ids),
        done=0,
        changed_pool=0,
        created_by=actor.subject,
        created_at=utcnow(),
    )
    session.add(job)
    await session.flush()
    return job


async def run_rescore(
    sessions: async_sessionmaker[AsyncSession],
    job_id: str,
    settings: TalentSettings,
    after_commit: Callable[[], None] | None = None,
) -> None:
    """Re-score in batches, each committed with the job's progress; a failure is recorded
    on the job (the scores already written stay: each batch is whole)."""
    async with sessions() as session:
        job = await repository.rescore_job(session, job_id)
        if job is None:
            return
        family, version = job.job_family, job.profile_version
        ids = await repository.open_application_ids_of_family(session, family)
        job.total = len(ids)
        await session.commit()
    try:
        for start in range(0, len(ids), settings.rescore_batch_size):
            async with sessions() as session:
                profile = await profiles_repo.version(session, family, version)
                active = await profiles_repo.active(session, family)
                if profile is None or active is None or active.version != version:
                    job = await repository.rescore_job(session, job_id)
                    assert job is not None
                    job.status, job.error = "superseded", "a newer profile version took over"
                    job.finished_at = utcnow()
                    await session.commit()
                    return
                apps = await repository.applications(
                    session, ids[start : start + settings.rescore_batch_size]
                )
                apps = [a for a in apps if a.stage not in {s.value for s in TERMINAL}]
                changed = await score_applications(session, apps, profile)
                job = await repository.rescore_job(session, job_id)
                assert job is not None
                job.done = min(job.total, start + settings.rescore_batch_size)
                job.changed_pool += changed
                await session.commit()
        async with sessions() as session:
            job = await repository.rescore_job(session, job_id)
            assert job is not None
            job.status, job.done, job.finished_at = "succeeded", job.total, utcnow()
            await session.commit()
    except Exception as exc:
        async with sessions() as session:
            job = await repository.rescore_job(session, job_id)
            if job is not None:
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
                job.finished_at = utcnow()
                await session.commit()
        raise


# --- reminders -------------------------------------------------------------------------


async def send_reminders(
    session: AsyncSession,
    publisher: Publisher,
    settings: TalentSettings,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Publish each due reminder once: offers unconfirmed after ``offer_confirm_days``,
    interview feedback overdue after ``feedback_due_hours``, open applications idle for
    ``idle_stage_days`` with no next step due."""
    now = now or utcnow()
    sent: dict[str, int] = defaultdict(int)
    reqs: dict[str, Requisition] = {}

    async def req_of(app: Application) -> Requisition:
        if app.requisition_id not in reqs:
            reqs[app.requisition_id] = await get_requisition(session, app.requisition_id)
        return reqs[app.requisition_id]

    async def send(
        kind: ReminderKind,
        subject: str,
        app: Application,
        since: dt.datetime,
        message: str,
        extra: Sequence[str] = (),
    ) -> None:
        if await repository.reminder_sent(session, kind.value, subject):
            return
        req = await req_of(app)
        recipients = sorted(
            {
                *(req.hiring_manager_ids or []),
                *extra,
                *([req.recruiter_id] if req.recruiter_id else []),
            }
        )
        reminder = ReminderSent(
            id=str(uuid.uuid4()),
            kind=kind.value,
            subject_id=subject,
            application_id=app.id,
            sent_at=now,
        )
        session.add(reminder)
        await session.flush()
        await publisher.publish(
            session,
            PipelineReminderDue(
                reminder_id=reminder.id,
                kind=kind,
                application_id=app.id,
                requisition_id=app.requisition_id,
                candidate_id=app.candidate_id,
                recipient_ids=recipients,
                due_since=since,
                message=message,
            ),
        )
        sent[kind.value] += 1

    offer_due = dt.timedelta(days=settings.offer_confirm_days)
    for app in await repository.offers_older_than(session, now - offer_due):
        assert app.offer_sent_at is not None
        req = await req_of(app)
        await send(
            ReminderKind.OFFER_UNCONFIRMED,
            f"{app.id}:{app.offer_sent_at.isoformat()}",
            app,
            app.offer_sent_at + offer_due,
            f"Offer for {req.title} not confirmed within {settings.offer_confirm_days:g} days "
            f"/ 录用通知 {settings.offer_confirm_days:g} 天内未确认",
        )
    feedback_due = dt.timedelta(hours=settings.feedback_due_hours)
    for interview in await repository.feedback_overdue(session, now - feedback_due):
        app = await get_application(session, interview.application_id)
        if app.stage in {s.value for s in TERMINAL}:
            continue
        await send(
            ReminderKind.FEEDBACK_OVERDUE,
            interview.id,
            app,
            interview.scheduled_at + feedback_due,
            f"Interview feedback overdue ({settings.feedback_due_hours:g} h) / 面试反馈已逾期",
            extra=[interview.interviewer_id],
        )
    idle = dt.timedelta(days=settings.idle_stage_days)
    for app in await repository.idle_since(session, now - idle):
        if app.next_step_due is not None and app.next_step_due > now:
            continue
        await send(
            ReminderKind.NO_NEXT_STEP,
            f"{app.id}:{app.stage}:{app.stage_changed_at.isoformat()}",
            app,
            app.stage_changed_at + idle,
            f"No next step for {settings.idle_stage_days:g} days at stage {app.stage} "
            f"/ 候选人 {settings.idle_stage_days:g} 天无下一步安排",
        )
    return dict(sent)


# --- outcomes (consumed events) --------------------------------------------------------


async def record_separation(
    session: AsyncSession, employee_id: str, separated_on: dt.date, reason: str
) -> None:
    for app in await repository.by_employee(session, employee_id):
        app.separated_on, app.separation_reason = separated_on, reason
    await session.flush()
