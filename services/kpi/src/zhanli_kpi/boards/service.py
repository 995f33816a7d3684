"""Live boards: a person's period scored from its aggregates, stored with its breakdown,
and ``zhanli.kpi.score_updated.v1`` published whenever the weighted score changes."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.alerts import service as alerts
from zhanli_kpi.boards.models import DailyScore, Period, Score
from zhanli_kpi.core import board as core
from zhanli_kpi.core import formula
from zhanli_kpi.core.curves import MAX_SCORE
from zhanli_kpi.db import people_table
from zhanli_kpi.facts import repository as facts
from zhanli_kpi.indicators import repository as indicators
from zhanli_kpi.indicators import service as indicator_service
from zhanli_kpi.plans import repository as plans_repo
from zhanli_kpi.plans import service as plans
from zhanli_kpi.plans.models import KpiPlan
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection, Person
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated
from zhanli_shared.events.outbox import Publisher

people = PeopleProjection(people_table)
DIGITS = 4


@dataclass
class Scored:
    person: Person
    period: str
    plan: KpiPlan | None
    board: core.Board
    library: dict[str, Any]
    team: list[dict[str, Any]]

    @property
    def total(self) -> float:
        return round(min(max(self.board.total, 0.0), MAX_SCORE), DIGITS)


def aggregates(rows: Any) -> dict[str, core.Aggregate]:
    return {r.indicator: core.Aggregate(r.total, r.count, r.latest) for r in rows}


async def library(session: AsyncSession) -> tuple[dict[str, Any], dict[str, formula.Formula]]:
    lib = await indicators.all_indicators(session)
    return dict(lib), indicator_service.derived(lib)


async def team_rules(
    session: AsyncSession, settings: KpiSettings, person: Person, period: str, lib: dict[str, Any]
) -> list[dict[str, Any]]:
    """The team targets over the person's units and whether each earns the bonus."""
    out = []
    for t in await plans_repo.unit_targets(session, person.org_path, period):
        agg = aggregates(await facts.values_of(session, f"unit:{t.scope_id}", period)).get(
            t.indicator
        )
        ind = lib.get(t.indicator)
        value = core.base_value(ind.aggregation if ind else "sum", agg) or 0.0
        completion = value / t.target if t.target else 0.0
        threshold = t.bonus_threshold or settings.team_bonus_threshold
        points = t.bonus_points if t.bonus_points is not None else settings.team_bonus_points
        out.append(
            {
                "unit": t.scope_id,
                "indicator": t.indicator,
                "target": t.target,
                "value": value,
                "completion": round(completion, DIGITS),
                "threshold": threshold,
                "bonus_points": points,
                "earned": completion >= threshold,
            }
        )
    return out


async def compute(
    session: AsyncSession, settings: KpiSettings, person: Person, period: str
) -> Scored:
    lib, derived = await library(session)
    plan = await plans.plan_for(session, person, period)
    aggs = aggregates(await facts.values_of(session, person.employee_id, period))
    values, undefined = core.values(lib, derived, aggs)
    team = await team_rules(session, settings, person, period, lib)
    if plan is None:
        return Scored(person, period, None, core.Board([], 0.0, values), lib, team)
    own = await plans_repo.targets_of(session, "person", person.employee_id, period)
    targets = plans.line_targets(plan.lines, own)
    lines = [
        core.Line(
            line["indicator"],
            float(line["weight"]),
            targets[line["indicator"]],
            plans.to_curve(line["curve"]),
        )
        for line in plan.lines
    ]
    bonus = sum(t["bonus_points"] for t in team if t["earned"]) / 100.0
    board = core.score_lines(lines, values, undefined, bonus=bonus)
    return Scored(person, period, plan, board, lib, team)


def breakdown(scored: Scored) -> list[dict[str, Any]]:
    out = []
    for line in scored.board.lines:
        ind = scored.library.get(line.indicator)
        out.append(
            {
                "indicator": line.indicator,
                "name_zh": ind.name_zh if ind else line.indicator,
                "name_en": ind.name_en if ind else line.indicator,
                "unit": ind.unit if ind else "",
                "direction": ind.direction if ind else "higher",
                "weight": line.weight,
                "target": line.target,
                "value": None if line.value is None else round(line.value, DIGITS),
                "completion": None
                if line.completion is None or line.completion != line.completion
                else round(min(line.completion, 1e6), DIGITS),
                "score": round(line.score, DIGITS),
                "contribution": round(line.contribution, DIGITS),
                "gap": None if line.gap is None else round(line.gap, DIGITS),
                "note": line.note,
            }
        )
    return out


def current_period(settings: KpiSettings) -> str:
    now = utcnow().astimezone(ZoneInfo(settings.timezone))
    return f"{now.year:04d}-{now.month:02d}"


def pace_of(settings: KpiSettings, period: str) -> float:
    """The share of the period gone by: 1 for a past period, 0 for a future one."""
    now = utcnow().astimezone(ZoneInfo(settings.timezone))
    current = f"{now.year:04d}-{now.month:02d}"
    if period < current:
        return 1.0
    if period > current:
        return 0.0
    return core.pro_rata_pace(now.day, calendar.monthrange(now.year, now.month)[1])


async def closed(session: AsyncSession, period: str) -> bool:
    return await session.get(Period, period) is not None


async def refresh(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    person: Person,
    period: str,
) -> Score | None:
    """Re-score the person's period and store it; publish the score when it changed. A
    closed period is never re-scored (its snapshot stands)."""
    row = await session.get(Score, (person.employee_id, period))
    if row is not None and row.locked:
        return row
    scored = await compute(session, settings, person, period)
    if scored.plan is None:
        return row
    total = scored.total
    now = utcnow()
    changed = row is None or row.score != total
    if row is None:
        row = Score(employee_id=person.employee_id, period=period, locked=False)
        session.add(row)
    row.score, row.bonus = total, round(scored.board.bonus, DIGITS)
    row.plan_id, row.plan_version = scored.plan.plan_id, scored.plan.version
    row.breakdown = breakdown(scored)
    row.calculated_at = now
    await _daily(session, settings, person.employee_id, period, total, now)
    if period == current_period(settings):
        await alerts.check_pace(
            session,
            publisher,
            settings,
            person,
            period,
            scored.board,
            scored.library,
            pace_of(settings, period),
        )
    if changed:
        await publisher.publish(
            session,
            KpiScoreUpdated(
                employee_id=person.employee_id,
                period=period,
                score=Decimal(str(total)),
                calculated_at=now,
            ),
        )
    return row


async def _daily(
    session: AsyncSession,
    settings: KpiSettings,
    employee_id: str,
    period: str,
    score: float,
    now: dt.datetime,
) -> None:
    day = now.astimezone(ZoneInfo(settings.timezone)).date()
    if f"{day:%Y-%m}" != period:
        return  # a past period's late change is not today's performance
    row = await session.get(DailyScore, (employee_id, day))
    if row is None:
        session.add(
            DailyScore(employee_id=employee_id, day=day, period=period, score=score, updated_at=now)
        )
    else:
        row.score, row.updated_at = score, now


async def refresh_many(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    touched: set[tuple[str, str]],
) -> None:
    for employee_id, period in sorted(touched):
        person = await people.get(session, employee_id)
        if person is not None:
            await refresh(session, publisher, settings, person, period)


async def members_of(session: AsyncSession, unit_id: str) -> list[Person]:
    """Everyone whose org path passes through the unit (the projection is small)."""
    rows = (await session.execute(select(people_table))).mappings()
    return [
        Person(**{k: r[k] for k in Person.__dataclass_fields__})
        for r in rows
        if unit_id in (r["org_path"] or [])
    ]


def unit_path(members: list[Person], unit_id: str) -> list[str]:
    for m in members:
        if unit_id in m.org_path:
            return list(m.org_path[: m.org_path.index(unit_id) + 1])
    return [unit_id]


async def scores_of(session: AsyncSession, ids: list[str], period: str) -> dict[str, Score]:
    out: dict[str, Score] = {}
    for i in range(0, len(ids), 500):
        stmt = select(Score).where(Score.employee_id.in_(ids[i : i + 500]), Score.period == period)
        out.update({s.employee_id: s for s in (await session.execute(stmt)).scalars()})
    return out


async def trend(session: AsyncSession, employee_id: str, periods: int) -> list[Score]:
    stmt = (
        select(Score)
        .where(Score.employee_id == employee_id)
        .order_by(Score.period.desc())
        .limit(periods)
    )
    return list(reversed(list((await session.execute(stmt)).scalars())))


async def all_people(session: AsyncSession) -> list[Person]:
    rows = (
        await session.execute(select(people_table).order_by(people_table.c.employee_id))
    ).mappings()
    return [Person(**{k: r[k] for k in Person.__dataclass_fields__}) for r in rows]
