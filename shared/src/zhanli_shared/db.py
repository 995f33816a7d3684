"""Database access: one async engine per service, SQLite or PostgreSQL chosen by URL.

The transaction ends at the edge: a request (or one consumed message) gets one session;
service code adds and flushes; the edge commits business rows and outbox rows together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal, localcontext
from functools import partial
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the platform's constraint naming convention (stable migrations)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


def create_engine(
    url: str, *, schema: str | None = None, pool_size: int = 10, echo: bool = False
) -> AsyncEngine:
    """Create the service's engine. On PostgreSQL every connection uses ``schema``."""
    url = normalise_url(url)
    if is_sqlite(url):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            import pathlib

            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer. One pooled connection queues the process's transactions
        # fairly in Python instead of letting them busy-sleep on the file lock.
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Transactions are begun by us (below), not by the driver.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # A deferred transaction that reads and then writes fails at once with
            # SQLITE_BUSY when another connection wrote in between (WAL snapshots);
            # taking the write lock up front makes it wait (busy_timeout) instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Custom plans for every execution: asyncpg prepares each statement once per
    # connection, and PostgreSQL's generic plan for a prepared statement is fixed from
    # the statistics of the moment; on tables that grew since (a fresh install taking its
    # first hundred thousand payments) that plan can turn a semi-join over a batch's ids
    # quadratic. Planning anew costs ~0.1 ms per statement.
    server_settings = {"plan_cache_mode": "force_custom_plan"}
    if schema:
        server_settings["search_path"] = schema
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ensure_schema(engine: AsyncEngine, schema: str | None) -> None:
    """Create the service's PostgreSQL schema if it does not exist (no-op on SQLite)."""
    if not schema or engine.dialect.name != "postgresql":
        return
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def unit_of_work(
    factory: async_sessionmaker[AsyncSession], after_commit: Callable[[], None] | None = None
) -> AsyncIterator[AsyncSession]:
    """Yield one session; commit everything it holds at the end, or roll all of it back."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    if after_commit is not None:
        after_commit()


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC(p, s) on PostgreSQL, canonical text on SQLite.

    SQLite has no exact numeric type (it would store a float), so amounts are kept as
    text there and never summed in SQL; PostgreSQL gets a real NUMERIC.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 2) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale

    def __repr__(self) -> str:
        return f"ExactDecimal(precision={self.precision}, scale={self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if type(value) is Decimal:  # the common case, already at the scale: no arithmetic
            _, digits, exponent = value.as_tuple()
            if exponent == -self.scale and len(digits) <= self.precision:
                return str(value) if dialect.name == "sqlite" else value
        exact = Decimal(value)
        with localcontext() as ctx:
            ctx.prec = max(self.precision, 28) + 2
            stored = exact.quantize(Decimal(1).scaleb(-self.scale))
        if stored != exact:
            raise ValueError(
                f"{exact} has more than {self.scale} decimals: round it explicitly first"
            )
        if len(stored.as_tuple().digits) > self.precision:
            raise ValueError(f"{exact} exceeds {self.precision} digits")
        return str(stored) if dialect.name == "sqlite" else stored

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if type(value) is Decimal and value.as_tuple().exponent == -self.scale:
            return value  # NUMERIC(p, s) comes back at its scale already
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))


def Money() -> ExactDecimal:
    """Money in major units with two decimals (yuan and fen)."""
    return ExactDecimal(20, 2)


def Rate() -> ExactDecimal:
    return ExactDecimal(12, 6)


class TZDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp stored in UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: times must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def one_of(column: Any, values: Any, dialect: str) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column IN (SELECT unnest($1))`` with one
    array parameter, so a batch of any size is one prepared statement (an IN list is a new
    statement and a new server-side prepare for every length), planned as a semi-join
    (index or hash: ``= ANY($1)`` is checked element by element against every row the
    index leaves, quadratic on a table whose statistics are stale)."""
    values = list(values)
    if dialect == "postgresql":
        array = bindparam(None, values, type_=ARRAY(column.type))
        return column.in_(select(func.unnest(array)))
    return column.in_(values)


def _bind(kind: TypeDecorator[Any], value: Any, *, dialect: Dialect) -> Any:
    return kind.process_bind_param(value, dialect)


def table_of(model: type[Any]) -> Table:
    """A mapped class's ``Table`` (SQLAlchemy types ``__table__`` as any FromClause)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


async def bulk_insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in one go: COPY on PostgreSQL, one
    executemany INSERT elsewhere. Values pass through their column type's bind processing
    either way, so exact decimals and aware times are checked as for any other write."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "postgresql":
        await conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    procs: list[Callable[[Any], Any] | None] = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, JSON):
            procs.append(lambda v: None if v is None else orjson.dumps(v).decode())
        elif isinstance(kind, TypeDecorator):
            procs.append(partial(_bind, kind, dialect=dialect))
        else:
            procs.append(None)
    pairs = list(zip(columns, procs, strict=True))
    records = [tuple(row.get(c) if p is None else p(row.get(c)) for c, p in pairs) for row in rows]
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=columns, schema_name=table.schema
    )
