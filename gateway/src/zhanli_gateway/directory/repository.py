"""Every query of the directory."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_gateway.directory.models import Employee, OrgUnit


async def get_unit(session: AsyncSession, org_unit_id: str) -> OrgUnit | None:
    return await session.get(OrgUnit, org_unit_id)


async def get_employee(session: AsyncSession, employee_id: str) -> Employee | None:
    return await session.get(Employee, employee_id)


async def units_managed_by(session: AsyncSession, employee_id: str) -> list[str]:
    stmt = select(OrgUnit.org_unit_id).where(OrgUnit.manager_id == employee_id)
    return list((await session.execute(stmt)).scalars())


async def list_units(session: AsyncSession) -> Sequence[OrgUnit]:
    return (await session.execute(select(OrgUnit).order_by(OrgUnit.org_unit_id))).scalars().all()


async def list_employees(
    session: AsyncSession, *, org_unit_ids: Sequence[str] | None, limit: int, offset: int
) -> tuple[Sequence[Employee], int]:
    stmt = select(Employee)
    if org_unit_ids is not None:
        stmt = stmt.where(Employee.org_unit_id.in_(org_unit_ids))
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (
        (await session.execute(stmt.order_by(Employee.employee_id).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return rows, total


async def units_below(session: AsyncSession, roots: Sequence[str]) -> list[str]:
    """Every unit whose path passes through one of ``roots`` (the roots included)."""
    units = await list_units(session)
    wanted = set(roots)
    return [u.org_unit_id for u in units if wanted.intersection(u.path)]
