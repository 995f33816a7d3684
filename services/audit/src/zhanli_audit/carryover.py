"""Carry the audit chain and the webhooks over from the gateway's database, once.

Until the audit service existed, the gateway kept ``audit_log``, ``webhook_subscriptions``
and ``webhook_deliveries`` in its own database (same columns as here). An existing
install upgrades with::

    python -m zhanli_audit import-from-gateway --url <gateway database URL> [--schema S]

(``make run`` runs it by itself when it finds an old gateway database.) Every entry is
copied with its sequence, times, fields, ``prev_hash`` and ``hash`` unchanged, so the
chain verifies exactly as before and new entries continue it; subscriptions keep their
encrypted secrets (sealed under the same context, with the platform's data keys) and
deliveries their ids and states (pending ones are sent by this service's dispatcher).

Safe to run again: a chain already carried (the same hash at the gateway's last
sequence) is left as it is, as are subscriptions and deliveries already present. It
refuses to mix two chains: when this service has already appended entries of its own
that are not the gateway's chain, it stops and says so (run it before the audit service
consumes, as ``make run`` does). The gateway's rows are only read; once the chain is
carried and verified, the command records its last entry in the gateway's database
(``audit_carried``), and the gateway's next migration drops the old tables, refusing to as
long as a chain is there that was not carried.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from zhanli_audit.audit import service as audit_service
from zhanli_audit.audit.models import AuditEntry
from zhanli_audit.main import create_app  # noqa: F401  (registers every table)
from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks.models import WebhookDelivery, WebhookSubscription
from zhanli_shared.db import TZDateTime, create_engine, session_factory, utcnow

CHUNK = 1000
AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
SUBSCRIPTIONS: Table = WebhookSubscription.__table__  # type: ignore[assignment]
DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]


# Written into the gateway's database once its chain is carried and verified here: the
# gateway's migration that drops its old tables checks it (and drops it too).
CARRIED = Table(
    "audit_carried",
    MetaData(),
    Column("head_sequence", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("carried_at", TZDateTime(), nullable=False),
)


class CarryError(RuntimeError):
    pass


@dataclass
class Report:
    found: bool = False
    entries: int = 0
    already_carried: bool = False
    subscriptions: int = 0
    deliveries: int = 0
    source_verified: dict[str, Any] = field(default_factory=dict)
    verified: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.found:
            return "no audit chain in the gateway database: nothing to carry"
        chain_part = (
            "the chain was carried before"
            if self.already_carried
            else f"{self.entries} audit entries carried"
        )
        return (
            f"{chain_part}; {self.subscriptions} webhook subscriptions and "
            f"{self.deliveries} deliveries carried; chain verified: {self.verified}"
        )


async def _has_table(conn: AsyncConnection, name: str) -> bool:
    return await conn.run_sync(lambda c: inspect(c).has_table(name))


async def _head(conn: AsyncConnection) -> tuple[int, str] | None:
    row = (
        await conn.execute(
            select(AUDIT.c.sequence, AUDIT.c.hash).order_by(AUDIT.c.sequence.desc()).limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _hash_at(conn: AsyncConnection, sequence: int) -> str | None:
    return (
        await conn.execute(select(AUDIT.c.hash).where(AUDIT.c.sequence == sequence))
    ).scalar_one_or_none()


async def _carry_chain(source: AsyncConnection, target: AsyncConnection, report: Report) -> None:
    src_head = await _head(source)
    if src_head is None:
        return
    after = 0
    dst_head = await _head(target)
    if dst_head is not None:
        # Carried before (all of it, or a prefix the gateway grew since): go on from there.
        # Anything else is a chain of another origin: never mixed.
        if await _hash_at(source, dst_head[0]) != dst_head[1]:
            raise CarryError(
                f"the audit service already holds {dst_head[0]} entries that are not the "
                "gateway's chain: carry the gateway's chain into an empty audit log (run this "
                "before the audit service consumes events)"
            )
        if dst_head[0] >= src_head[0]:
            report.already_carried = True
            return
        after = dst_head[0]
    while True:
        rows = (
            (
                await source.execute(
                    select(AUDIT)
                    .where(AUDIT.c.sequence > after)
                    .order_by(AUDIT.c.sequence)
                    .limit(CHUNK)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        await target.execute(AUDIT.insert(), [dict(r) for r in rows])
        report.entries += len(rows)
        after = rows[-1]["sequence"]


async def _carry_webhooks(source: AsyncConnection, target: AsyncConnection, report: Report) -> None:
    if not await _has_table(source, "webhook_subscriptions"):
        return
    have = set((await target.execute(select(SUBSCRIPTIONS.c.id))).scalars())
    subs = [
        dict(r)
        for r in (await source.execute(select(SUBSCRIPTIONS))).mappings()
        if r["id"] not in have
    ]
    if subs:
        await target.execute(SUBSCRIPTIONS.insert(), subs)
    report.subscriptions = len(subs)
    if not await _has_table(source, "webhook_deliveries"):
        return
    seen = {
        (s, e)
        for s, e in await target.execute(
            select(DELIVERIES.c.subscription_id, DELIVERIES.c.event_id)
        )
    }
    taken = set((await target.execute(select(DELIVERIES.c.id))).scalars())
    after = 0
    while True:
        rows = (
            (
                await source.execute(
                    select(DELIVERIES)
                    .where(DELIVERIES.c.id > after)
                    .order_by(DELIVERIES.c.id)
                    .limit(CHUNK)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        todo = []
        for r in rows:
            if (r["subscription_id"], r["event_id"]) in seen:
                continue
            row = dict(r)
            if row["id"] in taken:  # this service numbered one of its own already
                del row["id"]
            todo.append(row)
        if todo:
            await target.execute(DELIVERIES.insert(), todo)
        report.deliveries += len(todo)
        after = rows[-1]["id"]
    if target.dialect.name == "postgresql" and report.deliveries:
        await target.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('webhook_deliveries', 'id'), "
                "(SELECT max(id) FROM webhook_deliveries))"
            )
        )


async def carry(
    source_engine: AsyncEngine, target_engine: AsyncEngine, *, verify: bool = True
) -> Report:
    """Copy what the gateway kept into this service's database (one transaction)."""
    report = Report()
    async with source_engine.connect() as source:
        if not await _has_table(source, "audit_log"):
            return report
        report.found = True
        async with target_engine.begin() as target:
            if target.dialect.name == "postgresql":  # no append may interleave
                await target.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_log'))")
                )
            await _carry_chain(source, target, report)
            await _carry_webhooks(source, target, report)
    if verify:
        report.source_verified = await audit_service.verify(session_factory(source_engine))
        report.verified = await audit_service.verify(session_factory(target_engine))
        if report.source_verified.get("ok") and not report.verified.get("ok"):
            raise CarryError(f"the carried chain does not verify: {report.verified}")
    await _mark_carried(source_engine)
    return report


async def _mark_carried(source_engine: AsyncEngine) -> None:
    async with source_engine.begin() as conn:
        head = await _head(conn)
        await conn.run_sync(lambda c: CARRIED.create(c, checkfirst=True))
        await conn.execute(CARRIED.delete())
        if head is not None:
            await conn.execute(
                CARRIED.insert(),
                {"head_sequence": head[0], "head_hash": head[1], "carried_at": utcnow()},
            )


async def run(url: str, schema: str | None, settings: AuditSettings) -> Report:
    source = create_engine(url, schema=schema, pool_size=2)
    target = create_engine(settings.database_url, schema=settings.database_schema, pool_size=2)
    try:
        return await carry(source, target)
    finally:
        await source.dispose()
        await target.dispose()


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="zhanli-audit import-from-gateway",
        description="Carry the audit chain and the webhooks over from the gateway's database.",
    )
    parser.add_argument("--url", required=True, help="the gateway's database URL")
    parser.add_argument("--schema", default=None, help="its PostgreSQL schema (e.g. gateway)")
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(run(args.url, args.schema, AuditSettings()))
    except CarryError as exc:
        print(f"zhanli-audit import-from-gateway: refused: {exc}")
        return 2
    print(f"zhanli-audit import-from-gateway: {report.summary()}")
    if report.source_verified and not report.source_verified.get("ok"):
        print(
            "zhanli-audit import-from-gateway: WARNING: the gateway's chain did not verify "
            f"before the carry ({report.source_verified}); it was carried as it was"
        )
    return 0
