"""Transactional outbox (publish) and inbox (idempotent consume) tables.

An event is published by adding an outbox row in the same session as the state change;
the edge commits both or neither. The relay ships committed rows to Kafka.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.db import TZDateTime, bulk_insert, utcnow
from zhanli_shared.events.contracts.base import EventContract
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.observability import current_request_id

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    inbox: Table


def define_event_tables(metadata: MetaData) -> EventTables:
    """Add the outbox and inbox tables to a service's metadata."""
    outbox = Table(
        "event_outbox",
        metadata,
        Column("id", _BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=True),
        Column("payload", Text, nullable=False),
        Column("created_at", TZDateTime(), nullable=False),
        Column("sent_at", TZDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
        # The broker incarnation the row was acknowledged by (see relay.py: a broker that
        # forgot its log gets every row it had acknowledged again).
        Column("sent_epoch", String(64), nullable=True),
        # Set aside after the broker refused the row for good; an operator retries or
        # discards it (``python -m zhanli_<svc> outbox ...``).
        Column("parked_at", TZDateTime(), nullable=True),
        Index("ix_event_outbox_unsent", "sent_at", "id"),
        Index("ix_event_outbox_parked_at", "parked_at"),
    )
    inbox = Table(
        "event_inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("processed_at", TZDateTime(), nullable=False),
        Index("ix_event_inbox_processed_at", "processed_at"),
    )
    return EventTables(outbox=outbox, inbox=inbox)


class Publisher:
    """Writes events to the outbox inside the caller's transaction."""

    def __init__(self, tables: EventTables, source: str) -> None:
        self.tables = tables
        self.source = source
        self._insert = insert(tables.outbox)

    def envelope(
        self, event: EventContract, *, subject: str | None = None, time: dt.datetime | None = None
    ) -> CloudEvent:
        extra = {}
        rid = current_request_id()
        if rid:
            extra["zhanlirequestid"] = rid
        return CloudEvent(
            source=self.source,
            type=event.topic_name(),
            subject=subject or event.partition_key(),
            time=time or utcnow(),
            data=event.model_dump(mode="json"),
            **extra,
        )

    async def publish(
        self, session: AsyncSession, event: EventContract, *, subject: str | None = None
    ) -> CloudEvent:
        envelope = self.envelope(event, subject=subject)
        await session.execute(
            self._insert,
            {
                "event_id": envelope.id,
                "topic": event.topic_name(),
                "key": event.partition_key(),
                "payload": envelope.to_json().decode(),
                "created_at": utcnow(),
            },
        )
        session.info.setdefault("published", []).append(envelope.id)
        return envelope

    async def publish_many(self, session: AsyncSession, events: Sequence[EventContract]) -> None:
        """``publish`` for many events in one statement (COPY on PostgreSQL)."""
        if not events:
            return
        rows = []
        now = utcnow()
        published = session.info.setdefault("published", [])
        for event in events:
            envelope = self.envelope(event, time=now)
            rows.append(
                {
                    "event_id": envelope.id,
                    "topic": event.topic_name(),
                    "key": event.partition_key(),
                    "payload": envelope.to_json().decode(),
                    "created_at": now,
                }
            )
            published.append(envelope.id)
        await bulk_insert(await session.connection(), self.tables.outbox, rows)
