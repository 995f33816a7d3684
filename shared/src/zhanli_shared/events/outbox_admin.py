"""The operator's view of a service's outbox: ``python -m zhanli_<svc> outbox ...``.

    outbox list              parked rows (id, topic, key, attempts, last error) and a summary
    outbox retry ID... | --all     unpark: the relay sends them again (first, in id order)
    outbox discard ID... | --all   delete them for good; each is printed as JSON first

A row is parked when the broker refused it ``relay_max_attempts`` times (too large, unknown
topic); later rows of the same topic and key wait behind it (a key's order is kept), so
the summary counts them too. Retry after fixing the cause (create the topic, raise the
broker's size limit); discard only what no consumer must ever see.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from zhanli_shared.db import create_engine, session_factory
from zhanli_shared.events.outbox import EventTables, define_event_tables
from zhanli_shared.settings import ServiceSettings


@dataclass(frozen=True)
class OutboxSummary:
    unsent: int
    parked: int
    held: int  # unsent rows waiting behind a parked row of their topic and key


async def summary(sessions: async_sessionmaker[AsyncSession], tables: EventTables) -> OutboxSummary:
    outbox = tables.outbox
    parked = aliased(outbox)
    behind_parked = exists().where(
        parked.c.parked_at.is_not(None),
        parked.c.topic == outbox.c.topic,
        parked.c.key == outbox.c.key,
        parked.c.id < outbox.c.id,
    )
    unsent = outbox.c.sent_at.is_(None)
    async with sessions() as session:

        async def count(*where: Any) -> int:
            stmt = select(func.count()).select_from(outbox).where(*where)
            return int((await session.execute(stmt)).scalar() or 0)

        return OutboxSummary(
            unsent=await count(unsent, outbox.c.parked_at.is_(None)),
            parked=await count(outbox.c.parked_at.is_not(None)),
            held=await count(unsent, outbox.c.parked_at.is_(None), behind_parked),
        )


async def list_parked(
    sessions: async_sessionmaker[AsyncSession], tables: EventTables
) -> list[dict[str, Any]]:
    outbox = tables.outbox
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    outbox.c.id,
                    outbox.c.event_id,
                    outbox.c.topic,
                    outbox.c.key,
                    outbox.c.attempts,
                    outbox.c.parked_at,
                    outbox.c.last_error,
                    func.length(outbox.c.payload).label("size"),
                )
                .where(outbox.c.parked_at.is_not(None))
                .order_by(outbox.c.id)
            )
        ).all()
    return [dict(r._mapping) for r in rows]


def _chosen(tables: EventTables, ids: Sequence[int] | None) -> Any:
    outbox = tables.outbox
    where = outbox.c.parked_at.is_not(None)
    return where if ids is None else where & outbox.c.id.in_(list(ids))


async def retry_parked(
    sessions: async_sessionmaker[AsyncSession], tables: EventTables, ids: Sequence[int] | None
) -> int:
    """Unpark rows (all when ``ids`` is None); the relay sends them again."""
    async with sessions() as session:
        result = await session.execute(
            update(tables.outbox).where(_chosen(tables, ids)).values(parked_at=None, attempts=0)
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def discard_parked(
    sessions: async_sessionmaker[AsyncSession], tables: EventTables, ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """Delete parked rows (all when ``ids`` is None); return them as they were."""
    outbox = tables.outbox
    async with sessions() as session:
        rows = (
            await session.execute(select(outbox).where(_chosen(tables, ids)).order_by(outbox.c.id))
        ).all()
        if rows:
            await session.execute(delete(outbox).where(_chosen(tables, [r.id for r in rows])))
        await session.commit()
    return [dict(r._mapping) for r in rows]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


async def _run(settings: ServiceSettings, args: argparse.Namespace) -> int:
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    sessions = session_factory(engine)
    tables = define_event_tables(MetaData())
    ids = None if args.all else [int(i) for i in args.ids]
    try:
        if args.action == "list":
            for row in await list_parked(sessions, tables):
                error = (row["last_error"] or "").splitlines()[0][:160] if row["last_error"] else ""
                print(
                    f"{row['id']:>10}  {row['topic']}  key={row['key']}  "
                    f"attempts={row['attempts']}  bytes={row['size']}  "
                    f"parked={row['parked_at'].isoformat()}  {error}"
                )
            s = await summary(sessions, tables)
            print(
                f"{settings.service_name}: {s.parked} parked, {s.unsent} unsent "
                f"({s.held} of them waiting behind a parked row of their key)"
            )
            return 0
        if not args.all and not ids:
            print("name the rows (outbox ids from `outbox list`) or pass --all")
            return 2
        if args.action == "retry":
            count = await retry_parked(sessions, tables, ids)
            print(f"{settings.service_name}: {count} row(s) unparked; the relay sends them next")
            return 0
        discarded = await discard_parked(sessions, tables, ids)
        for row in discarded:
            print(json.dumps(_jsonable(row), ensure_ascii=False))
        print(f"{settings.service_name}: {len(discarded)} row(s) discarded")
        return 0
    finally:
        await engine.dispose()


def outbox_command(settings: ServiceSettings, argv: Sequence[str], prog: str) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{prog} outbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["list", "retry", "discard"])
    parser.add_argument("ids", nargs="*", help="outbox row ids (see `outbox list`)")
    parser.add_argument("--all", action="store_true", help="every parked row")
    return asyncio.run(_run(settings, parser.parse_args(list(argv))))
