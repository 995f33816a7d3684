"""Onboarding watch (DOMAIN.md section 2): a hire in probation whose training is at least
``alert_completion`` (80 %) done while their KPI score for the month is below
``alert_kpi_below`` (0.60) is shown to HR once per month (a ``zhanli.learning.reminder.v1``
to ``hr``, kind ``onboarding_alert``): learning is not turning into results, time for a
talk and a course recommendation."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.access import people
from zhanli_learning.core.progress import completion_rate
from zhanli_learning.onboarding.models import KpiScore
from zhanli_learning.paths import repository as paths_repo
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.learning import LearningReminder
from zhanli_shared.events.outbox import Publisher

ALERT_COMPLETION = Decimal("0.80")
ALERT_KPI_BELOW = Decimal("0.60")


async def record_score(
    session: AsyncSession, employee_id: str, period: str, score: Decimal
) -> None:
    row = await session.get(KpiScore, (employee_id, period))
    if row is None:
        row = KpiScore(employee_id=employee_id, period=period, score=score, updated_at=utcnow())
        session.add(row)
    row.score, row.updated_at = score, utcnow()
    await session.flush()


async def latest_score(session: AsyncSession, employee_id: str) -> KpiScore | None:
    stmt = (
        select(KpiScore)
        .where(KpiScore.employee_id == employee_id)
        .order_by(KpiScore.period.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def check(session: AsyncSession, publisher: Publisher, employee_id: str) -> bool:
    """Alert HR when training is far along but the month's KPI lags (once a month)."""
    person = await people.get(session, employee_id)
    if person is None or person.status != "probation":
        return False
    score = await latest_score(session, employee_id)
    if score is None or score.alerted_at is not None or score.score >= ALERT_KPI_BELOW:
        return False
    path = await paths_repo.path_of(session, employee_id)
    if path is None:
        return False
    items = await paths_repo.items(session, path.path_id)
    rate = completion_rate(sum(1 for i in items if i.status == "completed"), len(items))
    if rate < ALERT_COMPLETION:
        return False
    now = utcnow()
    score.alerted_at = now
    await session.flush()
    await publisher.publish(
        session,
        LearningReminder(
            recipient_id="hr",
            about_employee_id=employee_id,
            kind="onboarding_alert",
            stage="notice",
            subject_id=path.path_id,
            text_zh=f"{person.name} 的培训已完成 {rate:.0%}，但 {score.period} 的 KPI 仅 "
            f"{score.score:.0%}：请跟进并推荐课程。",
            text_en=f"{person.name} has completed {rate:.0%} of their training but scores "
            f"{score.score:.0%} on KPI for {score.period}: follow up and recommend a course.",
            occurred_at=now,
        ),
    )
    return True
