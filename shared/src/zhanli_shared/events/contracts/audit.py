"""Audit facts: who changed what, when, from where; before and after of the change.

Every service publishes them through its outbox in the same transaction as the change
(``zhanli_shared.audit.record``); the audit service appends them to the hash-chained
audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from zhanli_shared.events.contracts.base import EventContract


class AuditRecorded(EventContract):
    event_type = "zhanli.audit.recorded"
    version = 1
    key_field = "entity_id"
    description = (
        "A write happened: the actor, the action, the entity and its state before and after "
        "(JSON objects; money as decimal strings; personal data never in clear, only whether "
        "it changed). The Kafka key is '<entity_type>:<entity_id>'."
    )

    audit_id: str = Field(min_length=1, max_length=64, description="Unique id of the fact")
    occurred_at: dt.datetime
    actor_id: str = Field(max_length=200, description="Employee id, username or system name")
    actor_kind: str = Field(max_length=32, description="user, service, system or anonymous")
    roles: list[str] = Field(default_factory=list, description="The actor's roles at the time")
    action: str = Field(min_length=1, max_length=100, examples=["sales.payment.recorded"])
    entity_type: str = Field(min_length=1, max_length=64)
    entity_id: str = Field(min_length=1, max_length=200)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = Field(default=None, max_length=128)
    source_ip: str | None = Field(default=None, max_length=64)
    service: str = Field(min_length=1, max_length=64, description="The service that recorded it")

    def partition_key(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"
