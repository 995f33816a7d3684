"""Boards: a person's live board and trend, a unit's roll-up (scoped by the org tree),
re-scoring a whole period."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from zhanli_kpi.boards import export, service
from zhanli_kpi.boards.models import Score
from zhanli_kpi.boards.schemas import (
    BoardLine,
    BoardRead,
    MemberScore,
    PlanBrief,
    TeamBoardRead,
    TeamRule,
    TrendPoint,
)
from zhanli_kpi.core import board as core
from zhanli_kpi.settings import KpiSettings, kpi_settings
from zhanli_shared.auth import COMPANY_WIDE, CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.directory import Person
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi boards"])
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
PeriodQ = Annotated[
    str | None, Query(pattern=PERIOD, description="Business month YYYY-MM; default: current")
]
KpiAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN))]
HIGHLIGHTS = ("revenue", "collected_revenue", "collected_share", "repurchase_rate")


current_period = service.current_period
pace_of = service.pace_of


async def _person(session: Any, principal: Principal, employee_id: str) -> Person:
    person = await service.people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_person(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    return person


async def board_of(session: Any, settings: KpiSettings, person: Person, period: str) -> BoardRead:
    stored = await session.get(Score, (person.employee_id, period))
    scored = await service.compute(session, settings, person, period)
    highlights = {k: scored.board.values.get(k) for k in HIGHLIGHTS}
    team = [TeamRule(**t) for t in scored.team]
    if stored is not None and stored.locked:  # the closed period's snapshot
        plan = None
        if stored.plan_id:
            plan = PlanBrief(
                plan_id=stored.plan_id,
                name_zh=scored.plan.name_zh if scored.plan else stored.plan_id,
                name_en=scored.plan.name_en if scored.plan else stored.plan_id,
                version=stored.plan_version or 0,
            )
        return BoardRead(
            employee_id=person.employee_id,
            name=person.name,
            period=period,
            plan=plan,
            total=stored.score,
            bonus=stored.bonus,
            lines=[BoardLine(**line) for line in stored.breakdown],
            highlights=highlights,
            team=team,
            pace=1.0,
            locked=True,
            calculated_at=stored.calculated_at,
        )
    return BoardRead(
        employee_id=person.employee_id,
        name=person.name,
        period=period,
        plan=PlanBrief(
            plan_id=scored.plan.plan_id,
            name_zh=scored.plan.name_zh,
            name_en=scored.plan.name_en,
            version=scored.plan.version,
        )
        if scored.plan
        else None,
        total=scored.total,
        bonus=round(scored.board.bonus, service.DIGITS),
        lines=[BoardLine(**line) for line in service.breakdown(scored)],
        highlights={
            k: None if v is None else round(v, service.DIGITS) for k, v in highlights.items()
        },
        team=team,
        pace=round(pace_of(settings, period), service.DIGITS),
        locked=False,
        calculated_at=stored.calculated_at if stored else None,
    )


@router.get("/people/{employee_id}/board", response_model=BoardRead)
async def read_board(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: PeriodQ = None,
) -> BoardRead:
    """Each indicator's value, target, completion, score, contribution and gap, and the
    weighted total, as of the last fact (a closed period: its snapshot)."""
    settings = kpi_settings(runtime)
    person = await _person(session, principal, employee_id)
    return await board_of(session, settings, person, period or current_period(settings))


@router.get("/people/{employee_id}/trend", response_model=list[TrendPoint])
async def read_trend(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    periods: Annotated[int, Query(ge=1, le=36)] = 12,
) -> list[TrendPoint]:
    """The weighted score of the person's last periods, oldest first."""
    await _person(session, principal, employee_id)
    return [
        TrendPoint(period=s.period, score=s.score, locked=s.locked, calculated_at=s.calculated_at)
        for s in await service.trend(session, employee_id, periods)
    ]


def _weakest(score: Score | None) -> list[str]:
    if score is None:
        return []
    short = [line for line in score.breakdown if line["score"] < 1]
    short.sort(key=lambda x: (-(x["weight"] * (1 - x["score"])), x["indicator"]))
    return [line["indicator"] for line in short[:2]]


@router.get("/units/{unit_id}/board", response_model=TeamBoardRead)
async def read_unit_board(
    unit_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: PeriodQ = None,
) -> TeamBoardRead:
    """Everyone under the unit: scores, average, top performers, each one's weakest
    indicators and the team targets. For the unit's managers and company-wide roles."""
    settings = kpi_settings(runtime)
    period = period or current_period(settings)
    members = await service.members_of(session, unit_id)
    if not members:
        raise NotFound(f"No one is in unit {unit_id!r}.")
    if not (
        principal.has_any(COMPANY_WIDE) or principal.manages(service.unit_path(members, unit_id))
    ):
        raise OutOfScope(f"No one is in unit {unit_id!r}.")  # alike: no id enumeration
    scores = await service.scores_of(session, [m.employee_id for m in members], period)
    rows = [
        MemberScore(
            employee_id=m.employee_id,
            name=m.name,
            org_unit_id=m.org_unit_id,
            job_role=m.job_role,
            plan_id=scores[m.employee_id].plan_id if m.employee_id in scores else None,
            score=scores[m.employee_id].score if m.employee_id in scores else None,
            weakest=_weakest(scores.get(m.employee_id)),
        )
        for m in sorted(members, key=lambda m: m.employee_id)
    ]
    scored = [r for r in rows if r.score is not None]
    pace = pace_of(settings, period)
    behind = 0
    for m in members:
        s = scores.get(m.employee_id)
        line = next(
            (x for x in (s.breakdown if s else []) if x["indicator"] == settings.pace_indicator),
            None,
        )
        if (
            line
            and line["completion"] is not None
            and core.behind_pace(line["completion"], pace, settings.pace_alert_ratio)
        ):
            behind += 1
    lib, _ = await service.library(session)
    team = await service.team_rules(session, settings, members[0], period, lib)
    return TeamBoardRead(
        unit_id=unit_id,
        period=period,
        members=len(rows),
        scored=len(scored),
        average=round(sum(r.score or 0 for r in scored) / len(scored), service.DIGITS)
        if scored
        else None,
        top=sorted(scored, key=lambda r: (-(r.score or 0), r.employee_id))[:5],
        people=rows,
        team=[TeamRule(**t) for t in team if t["unit"] == unit_id],
        behind_pace=behind,
    )


@router.post("/periods/{period}/recompute")
async def recompute_period(
    period: Annotated[str, Path(pattern=PERIOD)],
    principal: KpiAdmin,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> dict[str, int]:
    """Re-score everyone in the directory for the period (after a plan or target change);
    changed scores are published. A closed period keeps its snapshot."""
    settings = kpi_settings(runtime)
    everyone = await service.all_people(session)
    changed = 0
    for person in everyone:
        before = await session.get(Score, (person.employee_id, period))
        old = before.score if before else None
        row = await service.refresh(session, publisher, settings, person, period)
        if row is not None and row.score != old:
            changed += 1
    return {"people": len(everyone), "changed": changed}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Analyst = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN, Role.HR_BP))]


@router.get(
    "/units/{unit_id}/analysis",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
async def export_analysis(
    unit_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Analyst,
    session: SessionDep,
    runtime: RuntimeDep,
    period: PeriodQ = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """HR's team analysis of the period: rank, score, top performers, each person's two
    weakest indicators and every indicator's score; CSV with a BOM or XLSX."""
    settings = kpi_settings(runtime)
    period = period or current_period(settings)
    members = await service.members_of(session, unit_id)
    if not members:
        raise NotFound(f"No one is in unit {unit_id!r}.")
    scores = await service.scores_of(session, [m.employee_id for m in members], period)
    rows = [
        {
            "employee_id": m.employee_id,
            "name": m.name,
            "unit": m.org_unit_id,
            "role": m.job_role,
            "plan_id": scores[m.employee_id].plan_id if m.employee_id in scores else None,
            "score": scores[m.employee_id].score if m.employee_id in scores else None,
            "breakdown": scores[m.employee_id].breakdown if m.employee_id in scores else [],
        }
        for m in members
    ]
    header, table = export.table(rows)
    name = f"kpi-{unit_id}-{period}"
    if format == "xlsx":
        body, media = export.to_xlsx(header, table, f"{unit_id} {period}"), XLSX
    else:
        body, media = export.to_csv(header, table), "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{name}.{format}"'},
    )
