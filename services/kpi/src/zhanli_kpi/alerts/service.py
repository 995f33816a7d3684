"""Pace alerts and training recommendations.

- **Pace**: when the watched indicator's completion (default revenue) falls below
  ``pace_alert_ratio`` (default 80 %) of the pro-rata pace of the current period, publish
  ``zhanli.kpi.pace_alert.v1`` once a day at most, with the probable causes: the linked
  indicators (the indicator's ``linked``) whose company-wide value this period misses the
  target of the plan that scores them (customer-service response time over its limit,
  supply delays...), addressed to the person, their manager and the causes' owners. Not in
  the first ``pace_grace`` of the period (a month's first day is always behind).
- **Training**: the weakest indicator of a person's closed period (the most points lost)
  becomes ``zhanli.kpi.training_recommended.v1`` for the learning service.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.alerts.models import Alert
from zhanli_kpi.core import board as core
from zhanli_kpi.core import curves
from zhanli_kpi.facts.models import IndicatorValue
from zhanli_kpi.plans.models import KpiPlan
from zhanli_kpi.plans.service import to_curve
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.events.contracts.kpi import KpiPaceAlert, PaceCause, TrainingRecommended
from zhanli_shared.events.outbox import Publisher


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 4)))


async def causes(
    session: AsyncSession, library: dict[str, Any], indicator: str, period: str
) -> list[PaceCause]:
    out: list[PaceCause] = []
    ind = library.get(indicator)
    for code in (ind.linked if ind else []) or []:
        linked = library.get(code)
        if linked is None:
            continue
        rows = (
            await session.execute(
                select(IndicatorValue).where(
                    IndicatorValue.indicator == code,
                    IndicatorValue.period == period,
                    ~IndicatorValue.scope_id.startswith("unit:"),
                )
            )
        ).scalars()
        values = [
            v
            for v in (
                core.base_value(linked.aggregation, core.Aggregate(r.total, r.count, r.latest))
                for r in rows
            )
            if v is not None
        ]
        if not values:
            continue
        value = sum(values) / len(values)
        line = await _line_of(session, code)
        if line is None:
            continue
        curve = to_curve(line["curve"])
        if curves.score(curve, value, float(line["target"])) < 1:
            out.append(
                PaceCause(
                    indicator=code,
                    value=_dec(value),
                    target=_dec(float(line["target"])),
                    owner_role=linked.owner_role,
                )
            )
    return out


async def _line_of(session: AsyncSession, code: str) -> dict[str, Any] | None:
    """The line of the first plan (by id) that scores ``code``: its owners' target."""
    for plan in (await session.execute(select(KpiPlan).order_by(KpiPlan.plan_id))).scalars():
        for line in plan.lines:
            if line["indicator"] == code:
                return dict(line)
    return None


async def check_pace(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    person: Person,
    period: str,
    board: core.Board,
    library: dict[str, Any],
    pace: float,
) -> KpiPaceAlert | None:
    line = next((x for x in board.lines if x.indicator == settings.pace_indicator), None)
    if line is None or line.completion is None or pace < settings.pace_grace:
        return None
    if not core.behind_pace(line.completion, pace, settings.pace_alert_ratio):
        return None
    now = utcnow()
    day = now.astimezone(ZoneInfo(settings.timezone)).date()
    if await session.get(Alert, (person.employee_id, "pace", day)) is not None:
        return None
    found = await causes(session, library, line.indicator, period)
    roles = sorted({c.owner_role for c in found if c.owner_role})
    ind = library.get(line.indicator)
    name = f"{ind.name_zh} / {ind.name_en}" if ind else line.indicator
    event = KpiPaceAlert(
        employee_id=person.employee_id,
        manager_id=person.manager_id,
        period=period,
        indicator=line.indicator,
        completion=_dec(line.completion),
        pace=_dec(pace),
        threshold=_dec(settings.pace_alert_ratio),
        causes=found,
        notify_roles=roles,
        message=(
            f"{person.name}: {name} 完成 {line.completion:.0%}，进度应达 {pace:.0%} / "
            f"completion {line.completion:.0%} against a pace of {pace:.0%}"
        )[:500],
        raised_at=now,
    )
    session.add(
        Alert(
            employee_id=person.employee_id,
            kind="pace",
            day=day,
            period=period,
            detail=event.model_dump(mode="json"),
            raised_at=now,
        )
    )
    await session.flush()
    await publisher.publish(session, event)
    return event


async def recommend_training(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    employee_id: str,
    period: str,
    breakdown: list[dict[str, Any]],
) -> TrainingRecommended | None:
    """The indicator that cost the most points (weight x shortfall) -> a recommendation."""
    short = [x for x in breakdown if x["score"] < 1 and x["weight"] > 0]
    if not short:
        return None
    weakest = max(short, key=lambda x: (x["weight"] * (1 - x["score"]), x["indicator"]))
    now = utcnow()
    day = now.astimezone(ZoneInfo(settings.timezone)).date()
    if await session.get(Alert, (employee_id, "training", day)) is not None:
        return None
    event = TrainingRecommended(
        employee_id=employee_id,
        indicator=weakest["indicator"],
        period=period,
        skill_id=weakest["indicator"],
        reason=(
            f"{weakest['name_zh']} 得分 {weakest['score']:.0%}，为本期最弱指标 / "
            f"{weakest['name_en']} scored {weakest['score']:.0%}, the weakest this period"
        )[:500],
        recommended_at=now,
    )
    session.add(
        Alert(
            employee_id=employee_id,
            kind="training",
            day=day,
            period=period,
            detail=event.model_dump(mode="json"),
            raised_at=now,
        )
    )
    await session.flush()
    await publisher.publish(session, event)
    return event


def today(settings: KpiSettings) -> dt.date:
    return utcnow().astimezone(ZoneInfo(settings.timezone)).date()
