"""Database access: one async engine per service, SQLite or PostgreSQL chosen by URL.

The transaction ends at the edge: a request (or one consumed message) gets one session;
service code adds and flushes; the edge commits business rows and outbox rows together.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
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
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
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
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
    )
    ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 1.0


def ping_when_idle(engine: AsyncEngine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Pessimistic disconnect handling at a fraction of the cost of ``pool_pre_ping``:
    a pooled connection that sat idle for more than ``idle_s`` is pinged when it is checked
    out (a dead one is replaced, the caller never sees it); one back from a request a moment
    ago is not. asyncpg's pre-ping is three round trips (BEGIN; ``;``; ROLLBACK) for every
    checkout: on a one-row read that was three of its eight round trips."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["zhanli_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkin")
    def _idle(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["zhanli_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("zhanli_idle_since")
        if since is not None and time.monotonic() - since < idle_s:
            return
        try:
            dbapi_conn.ping()
        except Exception as exc:  # the pool discards it and checks out another
            raise DisconnectionError(f"pooled connection is gone: {exc!r}") from exc


class ReadOnlyViolation(RuntimeError):
    """A write through a read session (``ReadSessionDep``): a bug, never a user error."""


class ReadOnlySession(Session):
    """The session of ``ReadSessionDep``: refuses to flush changes or run DML (on
    PostgreSQL it runs without a transaction, so nothing would roll a write back)."""

    def execute(self, statement: Any, *args: Any, **kw: Any) -> Any:
        if getattr(statement, "is_dml", False):
            raise ReadOnlyViolation("a read session cannot run INSERT, UPDATE or DELETE")
        return super().execute(statement, *args, **kw)

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.deleted or self.dirty:
            raise ReadOnlyViolation("a read session cannot write: use SessionDep")
        super().flush(objects)


class _InlineCursor:
    """An aiosqlite-shaped cursor that runs on the caller's thread (see ``_InlineSQLite``)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    async def __aenter__(self) -> _InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cur.close()

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cur.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cur.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> _InlineCursor:
        if parameters is None:
            self._cur.execute(sql)
        else:
            self._cur.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Any) -> _InlineCursor:
        self._cur.executemany(sql, seq)
        return self

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cur.fetchmany(size if size is not None else self._cur.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    async def close(self) -> None:
        self._cur.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None


class _InlineSQLite:
    """An aiosqlite-shaped connection whose calls run on the event loop's thread.

    aiosqlite hands every call (cursor, execute, fetch, close, commit) to a thread and back:
    about 15 thread hops for a three-query read, most of its cost. A WAL reader never waits
    for the writer, and an indexed read of a few rows takes microseconds, so the reader
    pool runs its statements inline instead (``query_only``: it cannot take the write lock).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # SQLAlchemy checks it is open

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _InlineCursor:
        return _InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = None) -> _InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def create_read_engine(
    url: str, writer: AsyncEngine, *, pool_size: int = 10, echo: bool = False
) -> AsyncEngine:
    """The engine of read sessions (``ReadSessionDep``) beside the service's ``writer``.

    SQLite: a pool of WAL reader connections of their own, ``query_only`` (they never take
    the write lock, so a read never queues behind the writer, the relay or the consumer),
    each request one deferred transaction (one snapshot), run inline on the event loop
    (``_InlineSQLite``). An in-memory database has no second connection: ``writer``.
    PostgreSQL: the writer's pool in autocommit (no BEGIN/COMMIT round trips; each
    statement sees what was committed before it, as under READ COMMITTED).
    """
    url = normalise_url(url)
    if not is_sqlite(url):
        return writer.execution_options(isolation_level="AUTOCOMMIT")
    path = url.split(":///", 1)[-1]
    if not path or path == ":memory:" or "mode=memory" in path:
        return writer
    if path.startswith("file:") and "?" in path:
        target, uri = path, True
    else:
        target, uri = path.split("?", 1)[0], False

    async def connect() -> _InlineSQLite:
        conn = sqlite3.connect(
            target,
            timeout=5,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
            uri=uri,
        )
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA query_only=ON")
        return _InlineSQLite(conn)

    engine = create_async_engine(
        url,
        echo=echo,
        async_creator=connect,
        pool_size=max(4, pool_size),
        max_overflow=max(4, pool_size),
        pool_timeout=30,
    )

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_deferred(conn: Any) -> None:
        # one snapshot for the request's reads; a WAL reader takes no lock that a writer
        # would wait for, and query_only refuses any write
        conn.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that only read (``ReadSessionDep``): never flushed, never committed."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=ReadOnlySession
    )


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
