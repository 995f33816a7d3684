"""The outbox relay: ships committed outbox rows to Kafka, in order, without loss.

It reads unsent rows by id, publishes each with its aggregate id as key (acks=all),
marks them sent, and backs off while the broker is down (the rows simply wait). It is
woken right after a commit that wrote events, and polls as a fallback for rows written
by other processes. On PostgreSQL a session-level advisory lock makes one relay of a
service active at a time, so several replicas never reorder a key's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zhanli_shared.db import one_of, utcnow
from zhanli_shared.events.kafka import make_producer
from zhanli_shared.events.outbox import EventTables
from zhanli_shared.observability import metrics
from zhanli_shared.settings import ServiceSettings

log = structlog.get_logger("zhanli.relay")


class OutboxRelay:
    def __init__(
        self,
        settings: ServiceSettings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        tables: EventTables,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = sessions
        self.tables = tables
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = False
        self.sent_total = 0

    def wake(self) -> None:
        """Tell the relay that new rows were committed."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_producer()

    async def _close_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        self._producer = None
        self.connected = False

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.settings)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def run(self) -> None:
        backoff = 0.1
        lock_conn = None
        try:
            while not self._stopping:
                try:
                    if self.engine.dialect.name == "postgresql":
                        lock_conn = await self._hold_leader_lock(lock_conn)
                        if lock_conn is None:
                            await self._sleep(self.settings.relay_poll_interval_s * 4)
                            continue
                    # Cleared before reading, so a commit during the drain wakes the next one.
                    self._wake.clear()
                    sent = await self.drain_once()
                    backoff = 0.1
                    if sent == 0:
                        await self._sleep(self.settings.relay_poll_interval_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database down: keep rows, back off
                    log.warning("relay.backoff", error=str(exc), backoff_s=backoff)
                    metrics.relay_errors.labels(self.settings.service_name).inc()
                    await self._close_producer()
                    if lock_conn is not None:  # the lock's connection may be gone too
                        with contextlib.suppress(Exception):
                            await lock_conn.close()
                        lock_conn = None
                    await asyncio.sleep(backoff)  # commits must not cut the backoff short
                    backoff = min(backoff * 2, self.settings.relay_max_backoff_s)
        finally:
            if lock_conn is not None:
                with contextlib.suppress(Exception):
                    await lock_conn.close()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _hold_leader_lock(self, conn):
        if conn is not None:
            return conn
        key = zlib.crc32(f"zhanli-relay:{self.settings.service_name}".encode()) & 0x7FFFFFFF
        conn = await self.engine.connect()
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
        await conn.commit()
        if got:
            log.info("relay.leader", service=self.settings.service_name)
            return conn
        await conn.close()
        return None

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows; return how many were sent.

        No database connection is held while waiting for the broker's acknowledgements.
        """
        outbox = self.tables.outbox
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.settings.relay_batch_size)
                )
            ).all()
        if not rows:
            metrics.outbox_backlog.labels(self.settings.service_name).set(0)
            return 0
        metrics.outbox_backlog.labels(self.settings.service_name).set(len(rows))
        producer = await self._ensure_producer()
        futures = [
            await producer.send(
                row.topic,
                value=row.payload.encode(),
                key=row.key.encode() if row.key else None,
                headers=[("content-type", b"application/cloudevents+json")],
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
        async with self.sessions() as session:
            await session.execute(
                update(outbox)
                .where(one_of(outbox.c.id, [row.id for row in rows], self.engine.dialect.name))
                .values(sent_at=utcnow())
            )
            await session.commit()
        self.sent_total += len(rows)
        metrics.events_published.labels(self.settings.service_name).inc(len(rows))
        return len(rows)
