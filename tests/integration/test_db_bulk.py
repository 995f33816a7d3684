"""Bulk writes and id-set reads of the hot paths (``bulk_insert``, ``one_of``) on both
databases: the same rows and the same refusals as ordinary writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, func, select

from zhanli_shared.db import (
    Money,
    Rate,
    TZDateTime,
    bulk_insert,
    create_engine,
    ensure_schema,
    one_of,
)
from zhanli_shared.testing.plugin import DatabaseTarget

SH = dt.timezone(dt.timedelta(hours=8))
metadata = MetaData()
rows_table = Table(
    "bulk_rows",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("amount", Money(), nullable=False),
    Column("rate", Rate(), nullable=True),
    Column("at", TZDateTime(), nullable=False),
    Column("doc", JSON, nullable=True),
)


def row(i: int, **over) -> dict:
    values = {
        "id": f"R{i:05d}",
        "name": f"王小明 Wang {i}",
        "amount": D(f"{i}.{i % 100:02d}"),
        "rate": D("0.050000") if i % 2 else None,
        "at": dt.datetime(2026, 10, 1 + i % 28, 9, i % 60, tzinfo=SH),
        "doc": {"notes": ["基础 base", i]} if i % 3 else None,
    }
    return values | over


async def engine_for(db_target: DatabaseTarget):
    engine = create_engine(db_target.url, schema=db_target.schema)
    await ensure_schema(engine, db_target.schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


async def count(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(rows_table))).scalar_one()


async def test_bulk_insert_stores_what_an_insert_would(db_target: DatabaseTarget) -> None:
    engine = await engine_for(db_target)
    try:
        rows = [row(i) for i in range(1, 1201)]
        async with engine.begin() as conn:
            await bulk_insert(conn, rows_table, rows)
            await bulk_insert(conn, rows_table, [])  # nothing to do
        async with engine.connect() as conn:
            stored = {r.id: r._asdict() for r in (await conn.execute(select(rows_table))).all()}
        assert len(stored) == 1200
        for expected in rows[::97] + rows[-3:]:
            got = stored[expected["id"]]
            assert got["amount"] == expected["amount"] and str(got["amount"]).count(".") == 1
            assert got["rate"] == expected["rate"]
            assert got["at"] == expected["at"] and got["at"].tzinfo is not None
            assert got["doc"] == expected["doc"] and got["name"] == expected["name"]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"amount": D("1.005")}, "more than 2 decimals"),
        ({"at": dt.datetime(2026, 10, 1, 9, 0)}, "naive datetime"),
    ],
)
async def test_bulk_insert_refuses_what_an_insert_refuses_and_writes_nothing(
    db_target: DatabaseTarget, bad: dict, message: str
) -> None:
    engine = await engine_for(db_target)
    try:
        with pytest.raises(Exception, match=message):
            async with engine.begin() as conn:
                await bulk_insert(conn, rows_table, [row(1), row(2, **bad), row(3)])
        assert await count(engine) == 0
    finally:
        await engine.dispose()


async def test_one_of_selects_exactly_the_ids_given(db_target: DatabaseTarget) -> None:
    engine = await engine_for(db_target)
    try:
        async with engine.begin() as conn:
            await bulk_insert(conn, rows_table, [row(i) for i in range(1, 3001)])
        dialect = engine.dialect.name
        wanted = [f"R{i:05d}" for i in range(1, 3001, 3)] + ["R99999", "不存在"]
        async with engine.connect() as conn:
            got = (
                (
                    await conn.execute(
                        select(rows_table.c.id).where(
                            one_of(rows_table.c.id, wanted[:900], dialect)
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert sorted(got) == sorted(w for w in wanted[:900] if w.startswith("R0"))
            if dialect == "postgresql":  # one statement for any number of ids
                got = (
                    (
                        await conn.execute(
                            select(rows_table.c.id).where(one_of(rows_table.c.id, wanted, dialect))
                        )
                    )
                    .scalars()
                    .all()
                )
                assert len(got) == 1000
            none = (
                (
                    await conn.execute(
                        select(rows_table.c.id).where(one_of(rows_table.c.id, [], dialect))
                    )
                )
                .scalars()
                .all()
            )
            assert none == []
    finally:
        await engine.dispose()
