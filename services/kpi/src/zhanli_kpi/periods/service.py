"""Closing a period (every score re-computed once more, then snapshotted and locked; a
training recommendation for each person's weakest indicator) and the daily performance
growth for the flexible probation targets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.alerts import service as alerts
from zhanli_kpi.boards import service as boards
from zhanli_kpi.boards.models import DailyScore, Period, Score
from zhanli_kpi.settings import KpiSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict
from zhanli_shared.events.contracts.kpi import PerformanceGrowthMeasured
from zhanli_shared.events.outbox import Publisher


async def close(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    period: str,
    *,
    actor: Principal,
    source_ip: str | None,
) -> dict[str, int | str]:
    if period >= boards.current_period(settings):
        raise Conflict(f"{period} is not over yet: only a past period closes.", field="period")
    if await session.get(Period, period) is not None:
        raise Conflict(f"{period} is already closed.", field="period")
    locked = recommended = 0
    for person in await boards.all_people(session):
        row = await boards.refresh(session, publisher, settings, person, period)
        if row is None:
            continue
        row.locked = True
        locked += 1
        if await alerts.recommend_training(
            session, publisher, settings, person.employee_id, period, row.breakdown
        ):
            recommended += 1
    session.add(
        Period(
            period=period,
            status="closed",
            closed_at=utcnow(),
            closed_by=actor.subject,
            people=locked,
        )
    )
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="kpi.period.closed",
        entity_type="kpi_period",
        entity_id=period,
        before=None,
        after={"period": period, "locked": locked, "recommendations": recommended},
        source_ip=source_ip,
    )
    return {"period": period, "locked": locked, "recommendations": recommended}


def growth(today: float, before: float) -> Decimal | None:
    """Day-over-day growth of the period-to-date score (0.05 = 5 %); none from 0."""
    if before <= 0:
        return Decimal(0) if today <= 0 else None
    return max(min(Decimal(str(round((today - before) / before, 6))), Decimal(100)), Decimal(-100))


async def measure_growth(
    session: AsyncSession, publisher: Publisher, settings: KpiSettings, day: dt.date
) -> int:
    """Publish each person's growth of ``day`` against their last earlier day of the same
    period (a person without a score that day kept yesterday's: growth 0)."""
    period = f"{day:%Y-%m}"
    rows = (
        await session.execute(
            select(DailyScore)
            .where(DailyScore.period == period, DailyScore.day <= day)
            .order_by(DailyScore.employee_id, DailyScore.day)
        )
    ).scalars()
    latest: dict[str, tuple[float | None, float | None]] = {}
    for r in rows:
        before, today = latest.get(r.employee_id, (None, None))
        if r.day < day:
            latest[r.employee_id] = (r.score, today)
        else:
            latest[r.employee_id] = (before, r.score)
    now = utcnow()
    published = 0
    for employee_id, (before, today) in sorted(latest.items()):
        if before is None:
            continue
        value = growth(today if today is not None else before, before)
        if value is None:
            continue
        await publisher.publish(
            session,
            PerformanceGrowthMeasured(
                employee_id=employee_id, day=day, growth=value, measured_at=now
            ),
        )
        published += 1
    return published


async def locked_scores(session: AsyncSession, period: str) -> list[Score]:
    stmt = select(Score).where(Score.period == period, Score.locked.is_(True))
    return list((await session.execute(stmt)).scalars())
