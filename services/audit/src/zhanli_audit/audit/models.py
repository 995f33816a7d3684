"""The audit log table: one row per audit fact, chained by SHA-256 hashes.

Append-only: no API updates or deletes it, and on PostgreSQL a trigger refuses UPDATE and
DELETE (see the migration). ``sequence`` is gapless and monotonic (set by the appender,
which holds the chain lock), so a deleted row breaks the chain at the next sequence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_audit.db import Base
from zhanli_shared.db import TZDateTime

_Seq = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_log"

    sequence: Mapped[int] = mapped_column(_Seq, primary_key=True, autoincrement=False)
    audit_id: Mapped[str] = mapped_column(String(64), unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(TZDateTime(), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    actor_id: Mapped[str] = mapped_column(String(200))
    actor_kind: Mapped[str] = mapped_column(String(32))
    roles: Mapped[list[str]] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_actor", "actor_id", "sequence"),
        Index("ix_audit_log_entity", "entity_type", "entity_id", "sequence"),
        Index("ix_audit_log_action", "action", "sequence"),
    )
