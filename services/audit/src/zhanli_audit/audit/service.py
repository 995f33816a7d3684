"""Audit use cases: append to the chain, verify it, export it (flush, never commit)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_audit.audit import chain, repository
from zhanli_audit.audit import checkpoints as checkpoints_core
from zhanli_audit.audit.models import AuditEntry
from zhanli_audit.audit.repository import Filters
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.contracts.gateway import RequestAudited

CHUNK = 500


async def append(session: AsyncSession, fact: AuditRecorded) -> int | None:
    """Append one fact at the end of the chain; return its sequence, or None when the
    fact is already in the log (a fact is appended once, whatever the delivery)."""
    await repository.lock_chain(session)
    if await repository.exists(session, fact.audit_id):
        return None
    last = await repository.head(session)
    sequence, prev_hash = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
    values: dict[str, Any] = fact.model_dump(mode="python")
    values.update(sequence=sequence, recorded_at=utcnow(), prev_hash=prev_hash)
    values["roles"] = sorted(values["roles"])
    values["hash"] = chain.entry_hash(values)
    await repository.add(session, values)
    return sequence


def from_gateway(seen: RequestAudited) -> AuditRecorded:
    """The chain entry of what the gateway saw: the same actions, entities and fields the
    gateway wrote itself when it still kept the log (so a search spans the move)."""
    if seen.outcome == "denied":
        action, entity_type = "authz.denied", "http"
        entity_id = f"{seen.method} {seen.path}"[:200]
        after: dict[str, Any] = {"method": seen.method, "path": seen.path, "status": seen.status}
    else:
        ok = seen.outcome == "login_succeeded"
        action = "auth.login.succeeded" if ok else "auth.login.failed"
        entity_type, entity_id = "user", seen.actor_id or "?"
        after = {"outcome": "success" if ok else "failure", "status": seen.status}
    return AuditRecorded(
        audit_id=seen.audit_id,
        occurred_at=seen.occurred_at,
        actor_id=seen.actor_id,
        actor_kind=seen.actor_kind,
        roles=sorted(seen.roles),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=None,
        after=after,
        request_id=seen.request_id,
        source_ip=seen.source_ip,
        service="gateway",
    )


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in (*chain.HASHED_FIELDS, "hash")}


async def verify(
    sessions: async_sessionmaker[AsyncSession],
    chunk: int = CHUNK,
    checkpoints: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Recompute the chain from the start, one chunk (and one short session) at a time,
    against the signed ``checkpoints`` given (already verified); name the first fault."""
    check = checkpoints_core.ChainCheck(checkpoints)
    after = 0
    while True:
        async with sessions() as session:
            rows = await repository.chunk(session, after, chunk)
        if not rows:
            return check.finish()
        for entry in rows:
            if not check.feed(entry_fields(entry)):
                return check.finish()
        after = rows[-1].sequence


async def head(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, str] | None:
    async with sessions() as session:
        return await repository.head(session)


def to_document(entry: AuditEntry) -> dict[str, Any]:
    doc = entry_fields(entry)
    for name in ("occurred_at", "recorded_at"):
        doc[name] = chain._time(doc[name])
    return doc


async def pages(
    sessions: async_sessionmaker[AsyncSession], filters: Filters, chunk: int = CHUNK
) -> AsyncIterator[list[dict[str, Any]]]:
    """The filtered log in sequence order, one chunk (and one short session) at a time:
    never all in memory, and no connection held while the client reads."""
    cursor = 0
    while True:
        async with sessions() as session:
            rows = await repository.search(session, filters, after_sequence=cursor, limit=chunk)
            docs = [to_document(r) for r in rows]
        if not docs:
            return
        yield docs
        cursor = docs[-1]["sequence"]
        if len(docs) < chunk:
            return


CSV_COLUMNS = [
    "sequence",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "actor_kind",
    "roles",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "request_id",
    "source_ip",
    "service",
    "audit_id",
    "prev_hash",
    "hash",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(value, list):
        text = ";".join(map(str, value))
    else:
        text = str(value)
    # A cell a spreadsheet would run as a formula (e.g. a login name '=HYPERLINK(...)').
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(docs: list[dict[str, Any]], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for doc in docs:
        writer.writerow([_cell(doc[c]) if c != "sequence" else doc[c] for c in CSV_COLUMNS])
    return buf.getvalue()


def jsonl_lines(docs: list[dict[str, Any]], header: bool) -> str:
    del header
    return "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs)


FORMATS: dict[str, tuple[str, Callable[[list[dict[str, Any]], bool], str]]] = {
    "csv": ("text/csv; charset=utf-8", csv_lines),
    "jsonl": ("application/x-ndjson; charset=utf-8", jsonl_lines),
}


async def export(
    sessions: async_sessionmaker[AsyncSession], filters: Filters, fmt: str
) -> AsyncIterator[bytes]:
    render = FORMATS[fmt][1]
    header = True
    if fmt == "csv":
        yield render([], True).encode()
        header = False
    async for docs in pages(sessions, filters):
        yield render(docs, header).encode()
