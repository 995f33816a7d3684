"""Every query of the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_audit.audit.models import AuditEntry


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends until the transaction ends. PostgreSQL: a transaction-level
    advisory lock keyed by the schema (so two test schemas never wait for each other);
    SQLite: the engine begins every transaction IMMEDIATE, which is one writer already."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_log'))")
        )


async def head(session: AsyncSession) -> tuple[int, str] | None:
    """The last entry's (sequence, hash), or None for an empty log."""
    row = (
        await session.execute(
            select(AuditEntry.sequence, AuditEntry.hash)
            .order_by(AuditEntry.sequence.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def exists(session: AsyncSession, audit_id: str) -> bool:
    stmt = select(AuditEntry.sequence).where(AuditEntry.audit_id == audit_id)
    return (await session.execute(stmt)).first() is not None


async def add(session: AsyncSession, values: dict) -> None:
    await session.execute(insert(AuditEntry), values)


@dataclass(frozen=True)
class Filters:
    actor_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _filtered(filters: Filters) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == filters.actor_id)
    if filters.entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == filters.entity_type)
    if filters.entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == filters.entity_id)
    if filters.action is not None:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEntry.occurred_at < filters.until)
    return stmt


async def search(
    session: AsyncSession,
    filters: Filters,
    *,
    after_sequence: int | None,
    limit: int,
    descending: bool = False,
) -> Sequence[AuditEntry]:
    """One page by sequence (keyset pagination: ``after_sequence`` is the cursor)."""
    stmt = _filtered(filters)
    if after_sequence is not None:
        stmt = stmt.where(
            AuditEntry.sequence < after_sequence
            if descending
            else AuditEntry.sequence > after_sequence
        )
    order = AuditEntry.sequence.desc() if descending else AuditEntry.sequence.asc()
    return (await session.execute(stmt.order_by(order).limit(limit))).scalars().all()


async def chunk(session: AsyncSession, after_sequence: int, size: int) -> Sequence[AuditEntry]:
    """The next ``size`` entries of the whole chain after ``after_sequence``."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.sequence > after_sequence)
        .order_by(AuditEntry.sequence)
        .limit(size)
    )
    return (await session.execute(stmt)).scalars().all()
