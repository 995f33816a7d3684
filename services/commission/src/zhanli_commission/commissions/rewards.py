"""Lines beside the engine's: manager overrides and flexible probation rewards.

Each is kept like the engine's lines: the target amount for a key is computed from scratch,
compared with what is stored under that key, and only the difference is appended (so
replays append nothing and corrections show as their own lines).

- Manager override: a manager whose plan has ``manager_override`` earns that share of each
  direct report's commission for the period (override lines themselves are not a base, so
  overrides never cascade up the chain).
- Flexible probation targets (DOMAIN.md section 4): in the first ``months`` of service the
  monthly target is ``deals_per_month`` (3); lowered to ``lowered_deals`` (2) when a weekly
  skill improvement above ``skill_improvement_over`` (10 %) was measured that month; raised to
  ``raised_deals`` (4) when a daily performance growth above ``growth_over`` (5 %) was, and
  then meeting it pays ``raised_reward``. The raised target wins when both signals came.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import pricing, writer
from zhanli_commission.commissions.models import CommissionLine, Credit
from zhanli_commission.core.plan import ProbationTargets
from zhanli_commission.core.probation import on_probation, probation_reward, probation_target
from zhanli_commission.core.quotas import months_of_service
from zhanli_commission.plans import service as plans
from zhanli_commission.plans.models import ProbationSignal
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import round_money

ZERO = Decimal("0.00")


async def sync_line(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person_id: str,
    period: str,
    *,
    key: str,
    kind: str,
    target: Decimal,
    rule: str,
    explanation: dict,
    cause_event_id: str,
    deal_id: str = "-",
    plan: plans.ResolvedPlan | None = None,
) -> dict[str, Any] | None:
    """Bring the lines kept under ``key`` to ``target`` in a locked, open period: the
    difference is appended (the stored line), nothing when there is none."""
    total = await writer.lock_total(session, settings, person_id, period)
    if total.status != "open":
        return None  # a closed statement never changes
    stmt = select(CommissionLine.amount).where(
        CommissionLine.salesperson_id == person_id, CommissionLine.credit_id == key
    )
    stored = sum((a for (a,) in (await session.execute(stmt)).all()), ZERO)
    diff = target - stored
    if diff == 0:
        return None
    line = writer.NewLine(
        kind=kind,
        amount=diff,
        rule=rule,
        explanation=explanation,
        source_event_id=cause_event_id,
        deal_id=deal_id,
        plan_id=plan.plan_id if plan else None,
        plan_version=plan.version if plan else None,
        credit_id=key,
    )
    await writer.append_lines(session, publisher, settings, total, [line])
    return line.values


async def apply_manager_override(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person: Person,
    period: str,
    *,
    cause_event_id: str,
) -> dict[str, Any] | None:
    if not person.manager_id or person.manager_id == person.employee_id:
        return None
    manager = await people.get(session, person.manager_id)
    if manager is None:
        return None
    manager_period = await pricing.open_period(session, manager.employee_id, period)
    plan = await plans.resolve_plan(session, manager, manager_period, settings)
    override = plan.rules.manager_override
    if override is None:
        return None
    stmt = select(CommissionLine.amount).where(
        CommissionLine.salesperson_id == person.employee_id,
        CommissionLine.period == period,
        CommissionLine.kind != "override",
    )
    base = sum((a for (a,) in (await session.execute(stmt)).all()), ZERO)
    target = round_money(base * override.rate, mode=plan.rules.rounding)
    return await sync_line(
        session,
        publisher,
        settings,
        manager.employee_id,
        manager_period,
        key=f"override:{person.employee_id}:{period}",
        kind="override",
        target=target,
        rule=f"{plan.rule_name}/manager_override",
        explanation={
            "notes": [
                f"{override.rate:%} of {person.name} ({person.employee_id})'s commission "
                f"in {period}: {base}"
            ],
            "member": person.employee_id,
            "base": str(base),
            "rate": str(override.rate),
        },
        cause_event_id=cause_event_id,
        plan=plan,
    )


@dataclass(frozen=True)
class ProbationStatus:
    month_of_service: int | None
    target_deals: int
    deals: int
    adjustment: str  # "default", "lowered", "raised"
    met: bool
    reward: Decimal


async def probation_status(
    session: AsyncSession, person: Person, period: str, cfg: ProbationTargets
) -> ProbationStatus | None:
    n = months_of_service(person.hired_on, period) if person.hired_on else None
    if not on_probation(cfg, person.status, n):
        return None
    signal = await session.get(ProbationSignal, (person.employee_id, period))
    target, adjustment = probation_target(
        cfg,
        signal.best_skill_improvement if signal else None,
        signal.best_growth if signal else None,
    )
    stmt = select(func.count(func.distinct(Credit.deal_id))).where(
        Credit.salesperson_id == person.employee_id,
        Credit.period == period,
        Credit.kind == "booking",
    )
    deals = (await session.execute(stmt)).scalar_one()
    met, reward = probation_reward(cfg, target, adjustment, deals)
    return ProbationStatus(n, target, deals, adjustment, met, reward)


async def apply_probation(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person: Person,
    period: str,
    *,
    cause_event_id: str,
    plan: plans.ResolvedPlan | None = None,
) -> dict[str, Any] | None:
    plan = plan or await plans.resolve_plan(session, person, period, settings)
    cfg = plan.rules.probation
    if cfg is None:
        return None
    status = await probation_status(session, person, period, cfg)
    if status is None:
        return None
    return await sync_line(
        session,
        publisher,
        settings,
        person.employee_id,
        period,
        key=f"probation:{period}",
        kind="bonus",
        target=status.reward,
        rule=f"{plan.rule_name}/probation_reward",
        explanation={
            "notes": [
                f"probation target raised to {status.target_deals} deals and met "
                f"({status.deals} deals)"
                if status.reward
                else f"probation target {status.target_deals} deals ({status.adjustment}); "
                f"{status.deals} so far"
            ]
        },
        cause_event_id=cause_event_id,
        plan=plan,
    )


def iso_week_period(week: str) -> str:
    """The business month of an ISO week: the month its Thursday falls in."""
    year, number = week.split("-W")
    thursday = dt.date.fromisocalendar(int(year), int(number), 4)
    return f"{thursday.year:04d}-{thursday.month:02d}"


async def record_signal(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    employee_id: str,
    period: str,
    *,
    skill: Decimal | None = None,
    growth: Decimal | None = None,
    cause_event_id: str,
) -> dict[str, Any] | None:
    """Keep the month's best signals, then re-check the probation target."""
    row = await session.get(ProbationSignal, (employee_id, period))
    if row is None:
        row = ProbationSignal(employee_id=employee_id, period=period, updated_at=utcnow())
        session.add(row)
    if skill is not None and (
        row.best_skill_improvement is None or skill > row.best_skill_improvement
    ):
        row.best_skill_improvement = skill
    if growth is not None and (row.best_growth is None or growth > row.best_growth):
        row.best_growth = growth
    row.updated_at = utcnow()
    await session.flush()
    person = await people.get(session, employee_id)
    if person is None:
        return None
    return await apply_probation(
        session, publisher, settings, person, period, cause_event_id=cause_event_id
    )
