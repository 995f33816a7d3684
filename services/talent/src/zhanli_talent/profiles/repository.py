"""Every query of competency profiles, KPI scores and trait observations."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_talent.profiles.models import CompetencyProfile, KpiScore, TraitObservation


async def active(session: AsyncSession, job_family: str) -> CompetencyProfile | None:
    return (
        await session.execute(
            select(CompetencyProfile).where(
                CompetencyProfile.job_family == job_family, CompetencyProfile.active.is_(True)
            )
        )
    ).scalar_one_or_none()


async def version(session: AsyncSession, job_family: str, number: int) -> CompetencyProfile | None:
    return (
        await session.execute(
            select(CompetencyProfile).where(
                CompetencyProfile.job_family == job_family, CompetencyProfile.version == number
            )
        )
    ).scalar_one_or_none()


async def versions(session: AsyncSession, job_family: str) -> list[CompetencyProfile]:
    return list(
        (
            await session.execute(
                select(CompetencyProfile)
                .where(CompetencyProfile.job_family == job_family)
                .order_by(CompetencyProfile.version.desc())
            )
        ).scalars()
    )


async def all_active(session: AsyncSession) -> list[CompetencyProfile]:
    return list(
        (
            await session.execute(
                select(CompetencyProfile)
                .where(CompetencyProfile.active.is_(True))
                .order_by(CompetencyProfile.job_family)
            )
        ).scalars()
    )


async def next_version(session: AsyncSession, job_family: str) -> int:
    current = (
        await session.execute(
            select(func.max(CompetencyProfile.version)).where(
                CompetencyProfile.job_family == job_family
            )
        )
    ).scalar_one()
    return int(current or 0) + 1


async def deactivate_family(session: AsyncSession, job_family: str) -> None:
    await session.execute(
        update(CompetencyProfile)
        .where(CompetencyProfile.job_family == job_family, CompetencyProfile.active.is_(True))
        .values(active=False)
    )


async def mean_kpi(
    session: AsyncSession, period_from: str, period_to: str, employee_ids: list[str] | None
) -> dict[str, float]:
    stmt = (
        select(KpiScore.employee_id, func.avg(KpiScore.score))
        .where(KpiScore.period >= period_from, KpiScore.period <= period_to)
        .group_by(KpiScore.employee_id)
    )
    if employee_ids is not None:
        stmt = stmt.where(KpiScore.employee_id.in_(employee_ids))
    return {pid: float(avg) for pid, avg in await session.execute(stmt)}


async def trait_means(
    session: AsyncSession, employee_ids: list[str]
) -> dict[str, dict[str, float]]:
    """trait -> person -> mean observed value (over all their observations)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for start in range(0, len(employee_ids), 500):
        chunk = employee_ids[start : start + 500]
        rows = await session.execute(
            select(
                TraitObservation.trait,
                TraitObservation.employee_id,
                func.avg(TraitObservation.value),
            )
            .where(TraitObservation.employee_id.in_(chunk))
            .group_by(TraitObservation.trait, TraitObservation.employee_id)
        )
        for trait, pid, value in rows:
            out[trait][pid] = float(value)
    return dict(out)
