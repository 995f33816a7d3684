"""Audit API schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sequence: int
    audit_id: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    actor_id: str
    actor_kind: str
    roles: list[str]
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    source_ip: str | None
    service: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: int | None = None


class VerifyResult(BaseModel):
    ok: bool
    checked: int
    first_bad_sequence: int | None
