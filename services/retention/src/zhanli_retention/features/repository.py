"""Every query of the feature store."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.core.features import PersonFacts, Signal, Timeline
from zhanli_retention.features.models import RetentionPerson, RetentionSignal
from zhanli_shared.db import utcnow


async def person(session: AsyncSession, employee_id: str) -> RetentionPerson | None:
    return await session.get(RetentionPerson, employee_id)


async def ensure_person(session: AsyncSession, employee_id: str) -> RetentionPerson:
    row = await session.get(RetentionPerson, employee_id)
    if row is None:
        row = RetentionPerson(
            employee_id=employee_id,
            status="active",
            org_path=[],
            protected={},
            source="events",
            updated_at=utcnow(),
        )
        session.add(row)
        await session.flush()
    return row


def add_signal(
    session: AsyncSession,
    employee_id: str,
    name: str,
    value: float,
    observed_on: dt.date,
    source: str,
) -> None:
    session.add(
        RetentionSignal(
            id=uuid.uuid4().hex,
            employee_id=employee_id,
            name=name,
            value=float(value),
            observed_on=observed_on,
            source=source[:200],
            created_at=utcnow(),
        )
    )


async def people(session: AsyncSession, ids: Sequence[str] | None = None) -> list[RetentionPerson]:
    stmt = select(RetentionPerson).order_by(RetentionPerson.employee_id)
    if ids is not None:
        stmt = stmt.where(RetentionPerson.employee_id.in_(list(ids)))
    return list((await session.execute(stmt)).scalars())


async def signals_of(
    session: AsyncSession, ids: Iterable[str] | None = None
) -> dict[str, list[Signal]]:
    stmt = select(
        RetentionSignal.employee_id,
        RetentionSignal.name,
        RetentionSignal.value,
        RetentionSignal.observed_on,
    ).order_by(
        # id breaks ties: the facts of one transaction share created_at (PostgreSQL: now()
        # is the transaction's start), and an order left to the database gave the same day
        # a different "latest" value from one read to the next (two trainings on the same
        # data differed)
        RetentionSignal.observed_on,
        RetentionSignal.created_at,
        RetentionSignal.id,
    )
    if ids is not None:
        id_list = list(ids)
        out: dict[str, list[Signal]] = {}
        for i in range(0, len(id_list), 500):
            chunk = id_list[i : i + 500]
            for eid, name, value, day in await session.execute(
                stmt.where(RetentionSignal.employee_id.in_(chunk))
            ):
                out.setdefault(eid, []).append(Signal(name, value, day))
        return out
    out = {}
    for eid, name, value, day in await session.execute(stmt):
        out.setdefault(eid, []).append(Signal(name, value, day))
    return out


async def facts(session: AsyncSession, rows: Sequence[RetentionPerson]) -> list[PersonFacts]:
    """PersonFacts of the people with a hire date (the others cannot be placed in tenure)."""
    sig = await signals_of(session, [r.employee_id for r in rows])
    return [
        PersonFacts(r.employee_id, r.hired_on, r.left_on, Timeline.of(sig.get(r.employee_id, [])))
        for r in rows
        if r.hired_on is not None
    ]
