"""The local projection of the directory (people and their place in the org tree).

Services never read the gateway's tables: each keeps this projection, fed by the
directory events, to check that a person exists and who may see their data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import JSON, Column, Date, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.db import TZDateTime, utcnow
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.events.envelope import CloudEvent


@dataclass(frozen=True)
class Person:
    employee_id: str
    name: str
    org_unit_id: str
    org_path: list[str]
    manager_id: str | None
    job_role: str
    status: str
    hired_on: dt.date | None


def define_people_table(metadata: MetaData) -> Table:
    return Table(
        "directory_people",
        metadata,
        Column("employee_id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("org_unit_id", String(64), nullable=False, index=True),
        Column("org_path", JSON, nullable=False),
        Column("manager_id", String(64), nullable=True),
        Column("job_role", String(64), nullable=False),
        Column("status", String(20), nullable=False),
        Column("hired_on", Date, nullable=True),
        Column("updated_at", TZDateTime(), nullable=False),
    )


class PeopleProjection:
    def __init__(self, table: Table) -> None:
        self.table = table

    def register(self, registry: HandlerRegistry) -> None:
        registry.on(EmployeeUpserted)(self.on_employee_upserted)

    async def on_employee_upserted(
        self, session: AsyncSession, event: EmployeeUpserted, envelope: CloudEvent
    ) -> None:
        values = {
            "employee_id": event.employee_id,
            "name": event.name,
            "org_unit_id": event.org_unit_id,
            "org_path": list(event.org_path),
            "manager_id": event.manager_id,
            "job_role": event.job_role,
            "status": event.status.value,
            "hired_on": event.hired_on,
            "updated_at": utcnow(),
        }
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(self.table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["employee_id"],
            set_={k: stmt.excluded[k] for k in values if k != "employee_id"},
        )
        await session.execute(stmt)

    async def get(self, session: AsyncSession, employee_id: str) -> Person | None:
        row = (
            (
                await session.execute(
                    select(self.table).where(self.table.c.employee_id == employee_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return Person(**{k: row[k] for k in Person.__dataclass_fields__})
