"""Reports for HR: the feedback loop (retention and performance by match-score band and
pool, with threshold suggestions) and the fairness of pool decisions (four-fifths rule)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from zhanli_shared.auth import Role, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.errors import NotFound, Unprocessable
from zhanli_shared.ml.fairness import age_band, fairness_report
from zhanli_shared.runtime import SessionDep
from zhanli_talent.candidates import repository as candidates_repo
from zhanli_talent.core import feedback
from zhanli_talent.profiles import repository as profiles_repo
from zhanli_talent.profiles.models import KpiScore
from zhanli_talent.profiles.schemas import Family
from zhanli_talent.reports.schemas import FairnessReport, FeedbackReport
from zhanli_talent.requisitions import repository as requisitions_repo
from zhanli_talent.requisitions.models import Application

router = APIRouter(prefix="/api/v1/talent/reports", tags=["talent: reports"])
HR = (Role.HR_ADMIN, Role.HR_BP)


@router.get("/feedback", response_model=FeedbackReport, dependencies=[Depends(require_roles(*HR))])
async def feedback_report(
    session: SessionDep,
    job_family: Family,
    horizon_days: Annotated[int, Query(ge=30, le=1095)] = 180,
    performing_at: Annotated[float, Query(ge=0, le=10)] = 0.8,
) -> FeedbackReport:
    """Hires by match-score band and pool: retained ``horizon_days`` after the hire (too
    early to tell is not counted), performing (mean KPI score since hire at least
    ``performing_at``), and the thresholds that suggests."""
    profile = await profiles_repo.active(session, job_family)
    if profile is None:
        raise NotFound(f"No active profile for job family {job_family!r}.")
    hires = []
    for app, _ in await requisitions_repo.hired(session, job_family):
        if app.hired_on is None or app.employee_id is None:
            continue
        kpi = (
            await session.execute(
                select(func.avg(KpiScore.score)).where(
                    KpiScore.employee_id == app.employee_id,
                    KpiScore.period >= app.hired_on.strftime("%Y-%m"),
                )
            )
        ).scalar()
        hires.append(
            feedback.Hire(
                app.score,
                app.pool,
                app.hired_on,
                app.separated_on,
                float(kpi) if kpi is not None else None,
            )
        )
    today = utcnow().date()
    common: dict[str, Any] = {
        "elimination_below": profile.elimination_below,
        "focus_above": profile.focus_above,
        "horizon_days": horizon_days,
        "performing_at": performing_at,
        "today": today,
    }
    bands = feedback.summarise(hires, group="band", **common)
    pools = feedback.summarise(hires, group="pool", **common)
    return FeedbackReport(
        job_family=job_family,
        profile_version=profile.version,
        horizon_days=horizon_days,
        performing_at=performing_at,
        by_band=bands,
        by_pool=pools,
        suggestions=feedback.suggestions(bands, profile.elimination_below, profile.focus_above),
    )


@router.get("/fairness", response_model=FairnessReport, dependencies=[Depends(require_roles(*HR))])
async def fairness(
    session: SessionDep,
    job_family: Family | None = None,
    requisition_id: Annotated[str | None, Query(max_length=36)] = None,
    min_group_size: Annotated[int, Query(ge=1, le=1000)] = 30,
) -> FairnessReport:
    """Selection rates by gender and age band, of the people's pool decisions (advanced
    past screening vs rejected there) and of the score's recommendation (not in the
    elimination pool), with the four-fifths rule flagged; small groups are marked
    unreliable. Protected attributes come from the candidates' records, for this only."""
    if not job_family and not requisition_id:
        raise Unprocessable("Name a job_family or a requisition_id.", field="job_family")
    apps = await requisitions_repo.decided(session, requisition_id, job_family)
    cands = await candidates_repo.many(session, [a.candidate_id for a in apps])
    today = dt.date.today()

    def band(birth_year: int | None) -> str | None:
        return age_band(today.year - birth_year) if birth_year else None

    def groups(selected: list[Application]) -> dict[str, list[str | None]]:
        return {
            "gender": [cands[a.candidate_id].gender for a in selected],
            "age_band": [band(cands[a.candidate_id].birth_year) for a in selected],
        }

    decided = [a for a in apps if a.pool_decision in ("advance", "reject")]
    scored = [a for a in apps if a.pool is not None]
    return FairnessReport(
        job_family=job_family,
        requisition_id=requisition_id,
        decisions=fairness_report(
            [a.pool_decision == "advance" for a in decided],
            groups(decided),
            kind="selection",
            min_group_size=min_group_size,
        ),
        recommendations=fairness_report(
            [a.pool != "elimination" for a in scored],
            groups(scored),
            kind="selection",
            min_group_size=min_group_size,
        ),
        reviewed_by_people=len(decided),
    )
