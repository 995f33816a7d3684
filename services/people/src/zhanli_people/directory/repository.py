"""Every query of the directory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_people.directory.models import DirectoryImport, Employee, OrgUnit
from zhanli_shared.db import utcnow


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


async def units_in_subtree(session: AsyncSession, org_unit_id: str) -> list[OrgUnit]:
    """The unit and every unit below it (its id is on their path), for a move."""
    units = await list_units(session)
    return [u for u in units if org_unit_id in u.path]


async def employees_in_units(session: AsyncSession, org_unit_ids: Sequence[str]) -> list[Employee]:
    out: list[Employee] = []
    for start in range(0, len(org_unit_ids), 500):  # bounded IN lists
        chunk = org_unit_ids[start : start + 500]
        stmt = select(Employee).where(Employee.org_unit_id.in_(chunk))
        out.extend((await session.execute(stmt.order_by(Employee.employee_id))).scalars())
    return out


async def employees_by_id(
    session: AsyncSession, employee_ids: Sequence[str]
) -> dict[str, Employee]:
    if not employee_ids:
        return {}
    stmt = select(Employee).where(Employee.employee_id.in_(list(employee_ids)))
    return {e.employee_id: e for e in (await session.execute(stmt)).scalars()}


async def all_employee_ids(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(Employee.employee_id))).scalars())


async def get_import(session: AsyncSession, import_id: str) -> DirectoryImport | None:
    return await session.get(DirectoryImport, import_id)


async def expire_stale_imports(session: AsyncSession, *, stale_after_s: float) -> int:
    """Running imports that stored no progress for ``stale_after_s`` were interrupted (the
    process that ran them stopped): they become ``failed`` with a file-level error saying
    so, and HR sends the file again (an import is idempotent). Returns how many."""
    now = utcnow()
    stmt = (
        select(DirectoryImport)
        .where(
            DirectoryImport.status == "running",
            DirectoryImport.updated_at < now - dt.timedelta(seconds=stale_after_s),
        )
        .with_for_update(skip_locked=True)
    )
    jobs = list((await session.execute(stmt)).scalars())
    for job in jobs:
        minutes = max(1, round((now - job.updated_at).total_seconds() / 60))
        job.status, job.finished_at = "failed", now
        job.errors = [
            *job.errors,
            {
                "row": 0,
                "field": "file",
                "message": f"Interrupted: no progress for {minutes} min (the service stopped "
                "while reading the file). Rows before it were applied; send the file again.",
            },
        ]
    if jobs:
        await session.flush()
    return len(jobs)


async def list_imports(session: AsyncSession, *, limit: int) -> Sequence[DirectoryImport]:
    stmt = select(DirectoryImport).order_by(DirectoryImport.created_at.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()
