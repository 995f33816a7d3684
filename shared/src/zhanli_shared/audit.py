"""Record audit facts in the same transaction as the change they describe.

``record(session, publisher, actor=..., action=..., entity_type=..., entity_id=...,
before=..., after=...)`` publishes an ``AuditRecorded`` event through the outbox: the
change and its audit fact commit together or not at all. The audit service consumes the
events and appends them to the hash-chained audit log (``zhanli_audit.audit``).

Never pass personal data in clear (phone, ID numbers): record whether it changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.observability import current_request_id


def jsonable(value: Any) -> Any:
    """A JSON value with exact money: Decimal as a string, times as ISO 8601, enums by
    value, sets sorted. Floats are refused (they would not round-trip money exactly)."""
    # The exact common types first (a run of bus facts is one audit fact of thousands of
    # values); anything else, subclasses included, takes the general path below.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is Decimal:
        return str(value)
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an audit record")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are not recorded in the audit log: use Decimal")
    raise TypeError(f"cannot record {type(value).__name__} in the audit log")


def client_ip(request: Any) -> str | None:
    """The caller's address: what the gateway proxy put in ``x-forwarded-for`` (the last
    header, last hop: a client cannot spoof it by sending its own), else the peer."""
    values = request.headers.getlist("x-forwarded-for")
    if values:
        hop = values[-1].rsplit(",", 1)[-1].strip()
        if hop:
            return hop[:64]
    client = getattr(request, "client", None)
    return client.host if client else None


def actor_fields(actor: Principal | str) -> dict[str, Any]:
    if isinstance(actor, Principal):
        return {
            "actor_id": actor.subject,
            "actor_kind": actor.kind,
            "roles": sorted(actor.roles),
        }
    return {"actor_id": actor, "actor_kind": "system", "roles": []}


def build(
    *,
    actor: Principal | str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    service: str,
    request_id: str | None = None,
    source_ip: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditRecorded:
    return AuditRecorded(
        audit_id=uuid.uuid4().hex,
        occurred_at=occurred_at or utcnow(),
        **actor_fields(actor),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        request_id=request_id if request_id is not None else current_request_id(),
        source_ip=source_ip,
        service=service,
    )


async def record(
    session: AsyncSession,
    publisher: Publisher,
    *,
    actor: Principal | str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    request_id: str | None = None,
    source_ip: str | None = None,
) -> AuditRecorded:
    """Publish the audit fact of a change in the caller's transaction (the outbox)."""
    event = build(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        service=publisher.source.rsplit("/", 1)[-1],
        request_id=request_id,
        source_ip=source_ip,
    )
    await publisher.publish(session, event)
    return event
