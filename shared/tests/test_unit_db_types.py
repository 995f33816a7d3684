"""ExactDecimal / Money and TZDateTime on SQLite and PostgreSQL (``db_target``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, Table, insert, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from zhanli_shared.db import (
    ExactDecimal,
    Money,
    Rate,
    TZDateTime,
    create_engine,
    ensure_schema,
    new_metadata,
)
from zhanli_shared.testing.plugin import DatabaseTarget


@dataclass
class Db:
    engine: AsyncEngine
    table: Table

    async def put(self, **values: object) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(self.table).values(**values))
            return int(result.inserted_primary_key[0])

    async def get(self, row_id: int, column: str) -> object:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(self.table.c[column]).where(self.table.c.id == row_id))
            ).scalar_one()


@pytest.fixture
async def db(db_target: DatabaseTarget) -> AsyncIterator[Db]:
    md = new_metadata()
    table = Table(
        "zt_types",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("amount", Money(), nullable=True),
        Column("big", ExactDecimal(30, 4), nullable=True),
        Column("rate", Rate(), nullable=True),
        Column("at", TZDateTime(), nullable=True),
    )
    engine = create_engine(db_target.url, schema=db_target.schema)
    await ensure_schema(engine, db_target.schema)
    async with engine.begin() as conn:
        await conn.run_sync(md.create_all)
    try:
        yield Db(engine, table)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "value",
    [
        "12345678901234.57",
        "99999999999999999.99",
        "0.10",
        "0.20",
        "-0.01",
        "0.00",
        "123456789012345678.01",
    ],
)
async def test_money_round_trips_exactly(db: Db, value: str) -> None:
    row = await db.put(amount=Decimal(value))
    back = await db.get(row, "amount")
    assert type(back) is Decimal
    assert back == Decimal(value)
    assert str(back) == value  # no float, no lost digits, two decimals kept


async def test_money_is_stored_exactly_not_as_a_float(db: Db) -> None:
    row = await db.put(amount=Decimal("12345678901234.57"))
    async with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            kind, raw = (
                await conn.execute(
                    text("SELECT typeof(amount), amount FROM zt_types WHERE id = :i"), {"i": row}
                )
            ).one()
            assert (kind, raw) == ("text", "12345678901234.57")
        else:
            kind, raw = (
                await conn.execute(
                    text(
                        "SELECT pg_typeof(amount)::text, amount::text FROM zt_types WHERE id = :i"
                    ),
                    {"i": row},
                )
            ).one()
            assert (kind, raw) == ("numeric", "12345678901234.57")


async def test_money_keeps_two_decimals_and_other_scales_their_own(db: Db) -> None:
    row = await db.put(
        amount=Decimal("5"), big=Decimal("12345678901234567890.1234"), rate=Decimal("0.035")
    )
    assert str(await db.get(row, "amount")) == "5.00"
    assert str(await db.get(row, "big")) == "12345678901234567890.1234"
    assert str(await db.get(row, "rate")) == "0.035000"


async def test_null_money_stays_null(db: Db) -> None:
    row = await db.put(amount=None, at=None)
    assert await db.get(row, "amount") is None
    assert await db.get(row, "at") is None


async def test_tzdatetime_refuses_naive_datetimes(db: Db) -> None:
    with pytest.raises(StatementError) as info:
        await db.put(at=dt.datetime(2026, 11, 30, 16, 30))
    assert isinstance(info.value.orig, ValueError)
    assert "naive" in str(info.value.orig)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 11, 30, 16, 30, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 1, 0, 30, 0, 654321, tzinfo=ZoneInfo("Asia/Shanghai")),
        dt.datetime(2026, 3, 8, 1, 59, tzinfo=ZoneInfo("America/New_York")),
    ],
)
async def test_tzdatetime_returns_utc_aware_values(db: Db, moment: dt.datetime) -> None:
    row = await db.put(at=moment)
    back = await db.get(row, "at")
    assert isinstance(back, dt.datetime)
    assert back.tzinfo is not None
    assert back.utcoffset() == dt.timedelta(0)
    assert back == moment  # the same instant, to the microsecond
    assert back.replace(tzinfo=None) == moment.astimezone(dt.UTC).replace(tzinfo=None)


async def test_tzdatetime_orders_instants_not_wall_clocks(db: Db) -> None:
    early = dt.datetime(
        2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai")
    )  # 16:30Z the day before
    late = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)
    a = await db.put(at=late)
    b = await db.put(at=early)
    async with db.engine.connect() as conn:
        ids = (
            (
                await conn.execute(
                    select(db.table.c.id).where(db.table.c.at.is_not(None)).order_by(db.table.c.at)
                )
            )
            .scalars()
            .all()
        )
    assert ids == [b, a]


# --- exactness guards (bugs found by these tests, fixed in ExactDecimal) -------------------


async def test_money_refuses_amounts_it_would_have_to_round(db: Db) -> None:
    """Money is 'rounded once, explicitly' (money.round_money, half-up by default): the
    column must not round a third decimal away on its own, least of all half-even."""
    with pytest.raises(StatementError):
        await db.put(amount=Decimal("1.005"))


async def test_money_overflow_is_refused(db: Db) -> None:
    """21 integer digits do not fit Money (NUMERIC(20, 2)): both backends must refuse."""
    with pytest.raises(Exception) as info:
        await db.put(amount=Decimal("123456789012345678901.00"))
    assert not isinstance(info.value, AssertionError)
