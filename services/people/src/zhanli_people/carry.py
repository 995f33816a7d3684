"""``python -m zhanli_people import-from-gateway --url URL [--schema SCHEMA]``: carry an older
install's directory, local users, import jobs and API keys from the gateway's database.

Until the people service existed the gateway kept these tables (``org_units``,
``employees``, ``directory_imports``, ``local_users``, ``api_keys``; the same columns as
here). This command copies every row the people service does not hold yet (by primary key;
a row already here wins), commits, then deletes from the gateway's tables the rows that are
now here: a move, safe to run again at any point (a run cut short is finished by the next
one). Encrypted personal data is carried as it is: its associated data still names the
gateway (``zhanli_people.directory.service``), so the same data keys read it. No event is
published: the other services already projected these people when the gateway wrote them.

The gateway's migration that drops the tables refuses to drop a table still holding rows,
so nothing is lost when this step is forgotten; ``make run`` runs it by itself when it finds
such a database. Exit status: 0 carried (or nothing to carry), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Table, delete, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

import zhanli_people.main  # noqa: F401  (registers every model)
from zhanli_people.apikeys.models import ApiKey
from zhanli_people.directory.models import DirectoryImport, Employee, OrgUnit
from zhanli_people.identity.models import LocalUser
from zhanli_people.settings import PeopleSettings
from zhanli_shared.db import create_engine, is_sqlite, normalise_url

TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (OrgUnit, Employee, DirectoryImport, LocalUser, ApiKey)
)
CHUNK = 500


@dataclass
class Carried:
    table: str
    found: int
    copied: int
    removed: int


def _sqlite_path(url: str) -> Path | None:
    url = normalise_url(url)
    if not is_sqlite(url):
        return None
    path = url.split(":///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


async def _tables_present(engine: AsyncEngine, schema: str | None) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(
            lambda c: inspect(c).get_table_names(
                schema=schema if c.dialect.name == "postgresql" else None
            )
        )
    return set(names)


def _column_names(conn: Connection, table: str, schema: str | None) -> set[str]:
    schema = schema if conn.dialect.name == "postgresql" else None
    return {str(col["name"]) for col in inspect(conn).get_columns(table, schema=schema)}


def _key(table: Table, row: dict) -> tuple:
    return tuple(row[c.name] for c in table.primary_key.columns)


async def carry(
    source_url: str, source_schema: str | None, settings: PeopleSettings
) -> list[Carried]:
    """Move the gateway's rows into the people service's database (migrated beforehand)."""
    path = _sqlite_path(source_url)
    if path is not None and not path.exists():
        return []
    source = create_engine(source_url, schema=source_schema, pool_size=1)
    target = create_engine(settings.database_url, schema=settings.database_schema, pool_size=1)
    out: list[Carried] = []
    try:
        present = await _tables_present(source, source_schema)
        tables = [t for t in TABLES if t.name in present]
        if not tables:
            return []
        rows_of: dict[str, list[dict]] = {}
        async with source.connect() as conn:
            for table in tables:
                # The gateway's copy has the columns of the day it stopped owning the table:
                # read those (columns added since take their defaults in the people service).
                had = await conn.run_sync(_column_names, table.name, source_schema)
                result = await conn.execute(select(*[c for c in table.columns if c.name in had]))
                rows_of[table.name] = [dict(r) for r in result.mappings()]
        copied: dict[str, int] = {}
        async with target.begin() as conn:  # one transaction: all rows or none
            for table in tables:
                pk = list(table.primary_key.columns)
                have = {tuple(r) for r in (await conn.execute(select(*pk))).all()}
                new = [r for r in rows_of[table.name] if _key(table, r) not in have]
                for start in range(0, len(new), CHUNK):
                    await conn.execute(table.insert(), new[start : start + CHUNK])
                copied[table.name] = len(new)
        removed: dict[str, int] = {}
        async with source.begin() as conn:  # then the gateway's copies go
            for table in tables:
                keys = [_key(table, r) for r in rows_of[table.name]]
                (column,) = table.primary_key.columns  # every carried table: a one-column key
                count = 0
                for start in range(0, len(keys), CHUNK):
                    chunk = [k[0] for k in keys[start : start + CHUNK]]
                    result = await conn.execute(delete(table).where(column.in_(chunk)))
                    count += result.rowcount or 0
                removed[table.name] = count
        for table in tables:
            out.append(
                Carried(
                    table.name,
                    len(rows_of[table.name]),
                    copied[table.name],
                    removed[table.name],
                )
            )
        return out
    finally:
        await source.dispose()
        await target.dispose()


def cli(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zhanli_people import-from-gateway",
        description="Move the directory, local users, import jobs and API keys of an older "
        "install from the gateway's database into this service's (migrate it first).",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("ZHANLI_GATEWAY_DATABASE_URL"),
        help="the gateway's database URL (default: ZHANLI_GATEWAY_DATABASE_URL)",
    )
    parser.add_argument(
        "--schema",
        default=os.environ.get("ZHANLI_GATEWAY_DATABASE_SCHEMA"),
        help="the gateway's PostgreSQL schema (default: ZHANLI_GATEWAY_DATABASE_SCHEMA, "
        "else 'gateway'; ignored on SQLite)",
    )
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give --url (or ZHANLI_GATEWAY_DATABASE_URL): the gateway's database")
    schema = (
        None
        if _sqlite_path(args.url) is not None or is_sqlite(args.url)
        else (args.schema or "gateway")
    )
    settings = PeopleSettings()
    carried = asyncio.run(carry(args.url, schema, settings))
    if not carried:
        print("import-from-gateway: nothing to carry (no such tables in the gateway's database)")
        return 0
    for c in carried:
        print(
            f"import-from-gateway: {c.table}: {c.found} found, {c.copied} copied, "
            f"{c.removed} removed from the gateway"
        )
    return 0
