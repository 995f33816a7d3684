from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.plans.models import KpiPlan, KpiPlanAssignment, KpiTarget

OPEN_END = "9999-12"


async def get_plan(session: AsyncSession, plan_id: str) -> KpiPlan | None:
    return await session.get(KpiPlan, plan_id)


async def list_plans(session: AsyncSession) -> list[KpiPlan]:
    return list((await session.execute(select(KpiPlan).order_by(KpiPlan.plan_id))).scalars())


async def list_assignments(
    session: AsyncSession, *, target_id: str | None = None
) -> list[KpiPlanAssignment]:
    stmt = select(KpiPlanAssignment).order_by(KpiPlanAssignment.created_at)
    if target_id:
        stmt = stmt.where(KpiPlanAssignment.target_id == target_id)
    return list((await session.execute(stmt)).scalars())


async def assignments_for(
    session: AsyncSession, targets: Sequence[tuple[str, str]], period: str
) -> list[KpiPlanAssignment]:
    stmt = select(KpiPlanAssignment).where(
        tuple_(KpiPlanAssignment.target_type, KpiPlanAssignment.target_id).in_(list(targets)),
        KpiPlanAssignment.effective_from <= period,
        or_(KpiPlanAssignment.effective_to.is_(None), KpiPlanAssignment.effective_to >= period),
    )
    return list((await session.execute(stmt)).scalars())


async def overlapping(
    session: AsyncSession, target_type: str, target_id: str, start: str, end: str | None
) -> KpiPlanAssignment | None:
    stmt = select(KpiPlanAssignment).where(
        KpiPlanAssignment.target_type == target_type,
        KpiPlanAssignment.target_id == target_id,
        KpiPlanAssignment.effective_from <= (end or OPEN_END),
        or_(KpiPlanAssignment.effective_to.is_(None), KpiPlanAssignment.effective_to >= start),
    )
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def target(
    session: AsyncSession, scope_type: str, scope_id: str, period: str, indicator: str
) -> KpiTarget | None:
    stmt = select(KpiTarget).where(
        KpiTarget.scope_type == scope_type,
        KpiTarget.scope_id == scope_id,
        KpiTarget.period == period,
        KpiTarget.indicator == indicator,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def targets_of(
    session: AsyncSession, scope_type: str, scope_id: str, period: str
) -> dict[str, KpiTarget]:
    stmt = select(KpiTarget).where(
        KpiTarget.scope_type == scope_type,
        KpiTarget.scope_id == scope_id,
        KpiTarget.period == period,
    )
    return {t.indicator: t for t in (await session.execute(stmt)).scalars()}


async def unit_targets(session: AsyncSession, units: Sequence[str], period: str) -> list[KpiTarget]:
    if not units:
        return []
    stmt = select(KpiTarget).where(
        KpiTarget.scope_type == "unit",
        KpiTarget.scope_id.in_(list(units)),
        KpiTarget.period == period,
    )
    return list((await session.execute(stmt)).scalars())


async def children_targets(
    session: AsyncSession, parent_id: str, period: str, indicator: str
) -> list[KpiTarget]:
    stmt = select(KpiTarget).where(
        KpiTarget.parent_id == parent_id,
        KpiTarget.period == period,
        KpiTarget.indicator == indicator,
    )
    return list((await session.execute(stmt)).scalars())


async def unit_targets_for_indicator(
    session: AsyncSession, period: str, indicator: str
) -> list[KpiTarget]:
    stmt = select(KpiTarget).where(
        KpiTarget.scope_type == "unit",
        KpiTarget.period == period,
        KpiTarget.indicator == indicator,
    )
    return list((await session.execute(stmt)).scalars())
