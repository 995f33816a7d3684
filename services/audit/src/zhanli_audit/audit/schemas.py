"""Audit API schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    fault: Literal["missing", "reordered", "altered", "rewritten", "truncated"] | None = Field(
        default=None,
        description="missing: rows deleted; reordered: a row not linked to the one before "
        "(moved, swapped); altered: a row's content changed; rewritten / truncated: a signed "
        "checkpoint's entry has another hash / is gone",
    )
    detail: str | None = None
    checkpoints: int = Field(default=0, description="signed checkpoints checked against")


class Checkpoint(BaseModel):
    """A signed checkpoint (zhanli_audit.audit.checkpoints): keep a copy elsewhere."""

    model_config = ConfigDict(extra="forbid")

    format: str
    issuer: str
    kid: str
    sequence: int
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    signed_at: str
    signature: str = Field(max_length=8192)


class VerifyAgainst(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoints: list[Checkpoint] = Field(min_length=1, max_length=1000)
