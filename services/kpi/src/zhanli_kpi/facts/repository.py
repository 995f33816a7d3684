from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.facts.models import Fact, FactImport, IndicatorValue
from zhanli_shared.db import utcnow


async def existing(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Fact]:
    keys = list(set(keys))
    out: dict[tuple[str, str], Fact] = {}
    for i in range(0, len(keys), 400):
        chunk = keys[i : i + 400]
        stmt = select(Fact).where(tuple_(Fact.source, Fact.source_id).in_(chunk))
        out.update({(f.source, f.source_id): f for f in (await session.execute(stmt)).scalars()})
    return out


async def add_to_value(
    session: AsyncSession,
    scope_id: str,
    period: str,
    indicator: str,
    value: float,
    at: dt.datetime,
) -> None:
    """total += value, count += 1, latest = value when it is the newest: one atomic upsert."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    stmt = insert(IndicatorValue).values(
        scope_id=scope_id,
        period=period,
        indicator=indicator,
        total=value,
        count=1,
        latest=value,
        latest_at=at,
        updated_at=now,
    )
    t = IndicatorValue.__table__.c
    newer = (t.latest_at.is_(None)) | (stmt.excluded.latest_at >= t.latest_at)
    from sqlalchemy import case

    stmt = stmt.on_conflict_do_update(
        index_elements=["scope_id", "period", "indicator"],
        set_={
            "total": t.total + stmt.excluded.total,
            "count": t.count + 1,
            "latest": case((newer, stmt.excluded.latest), else_=t.latest),
            "latest_at": case((newer, stmt.excluded.latest_at), else_=t.latest_at),
            "updated_at": now,
        },
    )
    await session.execute(stmt)


async def values_of(session: AsyncSession, scope_id: str, period: str) -> list[IndicatorValue]:
    stmt = select(IndicatorValue).where(
        IndicatorValue.scope_id == scope_id, IndicatorValue.period == period
    )
    return list((await session.execute(stmt)).scalars())


async def values_of_many(
    session: AsyncSession, scope_ids: Sequence[str], period: str
) -> list[IndicatorValue]:
    out: list[IndicatorValue] = []
    for i in range(0, len(scope_ids), 500):
        stmt = select(IndicatorValue).where(
            IndicatorValue.scope_id.in_(list(scope_ids[i : i + 500])),
            IndicatorValue.period == period,
        )
        out += list((await session.execute(stmt)).scalars())
    return out


async def facts_of(session: AsyncSession, employee_id: str, period: str, limit: int) -> list[Fact]:
    stmt = (
        select(Fact)
        .where(Fact.employee_id == employee_id, Fact.period == period)
        .order_by(Fact.occurred_at.desc(), Fact.fact_id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def get_import(session: AsyncSession, import_id: str) -> FactImport | None:
    return await session.get(FactImport, import_id)


async def set_value(
    session: AsyncSession, scope_id: str, period: str, indicator: str, *, total: float, count: int
) -> None:
    row = await session.get(IndicatorValue, (scope_id, period, indicator))
    if row is None:
        row = IndicatorValue(scope_id=scope_id, period=period, indicator=indicator)
        session.add(row)
    row.total, row.count, row.updated_at = total, count, utcnow()
    row.latest, row.latest_at = None, None
    await session.flush()
