"""The outbox relay: ships committed outbox rows to Kafka, in order, without loss.

It reads unsent rows by id, publishes each with its aggregate id as key (acks=all),
marks them sent, and backs off while the broker is down (the rows simply wait). It is
woken right after a commit that wrote events, and polls as a fallback for rows written
by other processes. On PostgreSQL a session-level advisory lock makes one relay of a
service active at a time, so several replicas never reorder a key's events; the leader
checks its lock's connection before every batch and steps down when it is gone.

A broker that forgets. An acknowledgement only proves the broker had the event; Tansu's
memory storage (the embedded default) loses its whole log when it restarts, with events
no consumer had read yet. So a sent row keeps the broker *epoch* that acknowledged it
(``kafka.BrokerEpoch``: the first record of ``zhanli.broker-epoch``, which a new broker
does not have) for ``outbox_sent_retention_s``. When the relay finds another epoch (it
asks every ``relay_epoch_check_interval_s``, and at once when an acknowledged offset goes
backwards), every retained row acknowledged by an older epoch becomes unsent again and
goes out again, in id order, before newer rows; consumers' inboxes skip the ones they had
already applied.

A row goes only to a topic the broker it is sent to lists. Tansu acknowledges a record for
a topic it does not have (a producer whose metadata still holds the old broker's topics
sends straight to a partition) and that record can never be read; on a restarted memory
broker every topic is missing until the supervisor creates them again. So the relay's list
of the broker's topics (an all-topics metadata request, which creates nothing) is read
again whenever it finds a new epoch or opens a new producer, and a row whose topic is
missing there waits, without costing attempts while the broker is new
(``relay_new_broker_grace_s``): marked sent under the new epoch it would never go again.

A row the broker refuses (too large, unknown topic) while it accepts others costs one
attempt (``attempts``, ``last_error``); after ``relay_max_attempts`` it is parked
(``parked_at``) and the relay goes on. Later rows of the same topic and key wait behind a
parked row (their order is the key's order); rows of other keys flow. An operator lists,
retries or discards parked rows with ``python -m zhanli_<svc> outbox ...``
(``events/outbox_admin.py``). The leader also purges sent outbox rows and old inbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import zlib
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from sqlalchemy import Table, and_, delete, exists, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from zhanli_shared.db import one_of, utcnow
from zhanli_shared.events.kafka import EPOCH_TOPIC, BrokerEpoch, make_producer
from zhanli_shared.events.outbox import EventTables
from zhanli_shared.observability import metrics
from zhanli_shared.settings import ServiceSettings

log = structlog.get_logger("zhanli.relay")


def refused_by_broker(exc: BaseException) -> bool:
    """True when a working broker refused this row (it would refuse it again); False for
    a broker that is down, busy or electing (every row fails alike: back off, count
    nothing against the rows)."""
    if isinstance(exc, UnknownTopicOrPartitionError):
        return True
    if isinstance(exc, KafkaError):
        return not exc.retriable
    return not isinstance(exc, (ConnectionError, TimeoutError, OSError))


# Beyond this many parked (topic, key) pairs the exclusion is one anti-join in SQL.
_PARKED_KEYS_INLINE = 200


def unsent_rows_query(outbox: Table, limit: int) -> Any:
    """Unsent, unparked rows in id order, without those waiting behind a parked row of
    their topic and key (one statement; see ``read_unsent`` for the one the relay uses)."""
    parked = aliased(outbox)
    return (
        select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload, outbox.c.attempts)
        .where(
            outbox.c.sent_at.is_(None),
            outbox.c.parked_at.is_(None),
            ~exists().where(
                parked.c.parked_at.is_not(None),
                parked.c.topic == outbox.c.topic,
                parked.c.key == outbox.c.key,
                parked.c.id < outbox.c.id,
            ),
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )


async def read_unsent(session: AsyncSession, outbox: Table, limit: int) -> list[Any]:
    """The next rows to publish: ``unsent_rows_query``'s rows, read in two steps.

    The parked (topic, key) pairs come first (the parked-at index; almost always none),
    then the unsent rows in id order with those keys' later rows left out by value. As one
    anti-join, PostgreSQL planned the exclusion from the statistics of a young table (an
    outbox of one row, as far as it knew) as a nested loop over every earlier row: 20,000
    unsent rows took 18 s a batch of 500, the relay fell minutes behind its service."""
    firsts = (
        await session.execute(
            select(outbox.c.topic, outbox.c.key, func.min(outbox.c.id))
            .where(outbox.c.parked_at.is_not(None), outbox.c.key.is_not(None))
            .group_by(outbox.c.topic, outbox.c.key)
        )
    ).all()
    if len(firsts) > _PARKED_KEYS_INLINE:
        return list((await session.execute(unsent_rows_query(outbox, limit))).all())
    query = (
        select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload, outbox.c.attempts)
        .where(outbox.c.sent_at.is_(None), outbox.c.parked_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    for topic, key, first_id in firsts:
        query = query.where(  # a NULL key is never held (no order to keep)
            or_(
                outbox.c.key.is_(None),
                ~and_(outbox.c.topic == topic, outbox.c.key == key, outbox.c.id > first_id),
            )
        )
    return list((await session.execute(query)).all())


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
        self.leader = False
        self.step_downs = 0
        self.sent_total = 0
        self.refused_total = 0
        self.republished_total = 0
        # the broker epoch: the one rows are marked with, the one last observed
        self._epoch_reader = BrokerEpoch(settings)
        self.epoch: str | None = None
        self._observed_epoch: str | None = None
        self._epoch_task: asyncio.Task[None] | None = None
        self._epoch_poke = asyncio.Event()
        self._last_offsets: dict[TopicPartition, int] = {}
        self._topics: set[str] = set()
        self._new_broker_at = 0.0  # when the relay last found a new broker (monotonic)
        self.waiting_for_topics = 0  # rows held in the last drain: their topic is missing
        self._refusal_streak = 0
        self._purged_at = 0.0

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
        if self._epoch_task is not None:
            self._epoch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._epoch_task
            self._epoch_task = None
        await self._epoch_reader.close()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        self._producer = None
        self._observed_epoch = None
        self.connected = False

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.settings)
            try:
                await producer.start()
                # Nothing is sent before the relay knows which broker it is talking to.
                self._observed_epoch = await self._epoch_reader.read(producer)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                await self._epoch_reader.close()
                raise
            self._producer = producer
            # Maybe another broker than the one the topic list came from.
            self._topics = set()
            self._epoch_task = asyncio.create_task(self._watch_epoch(producer), name="relay-epoch")
            self.connected = True
        return self._producer

    async def _watch_epoch(self, producer: AIOKafkaProducer) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._epoch_poke.wait(), self.settings.relay_epoch_check_interval_s
                )
            self._epoch_poke.clear()
            try:
                self._observed_epoch = await self._epoch_reader.read(producer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away; the drain will notice too
                log.info("relay.epoch_unknown", error=repr(exc))
                await self._epoch_reader.close()
                await asyncio.sleep(min(self.settings.relay_epoch_check_interval_s, 0.5))

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
                    self.leader = True
                    await self._follow_epoch()
                    # Cleared before reading, so a commit during the drain wakes the next one.
                    self._wake.clear()
                    sent = await self.drain_once()
                    backoff = 0.1
                    await self._purge_when_due()
                    if self._refusal_streak:
                        # the broker refused rows: give it (and them) a moment
                        await asyncio.sleep(
                            min(
                                self.settings.relay_retry_backoff_s
                                * 2 ** (self._refusal_streak - 1),
                                self.settings.relay_max_backoff_s,
                            )
                        )
                    elif sent == 0:
                        await self._sleep(self.settings.relay_poll_interval_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database down: keep rows, back off
                    log.warning("relay.backoff", error=repr(exc), backoff_s=backoff)
                    metrics.relay_errors.labels(self.settings.service_name).inc()
                    await self._close_producer()
                    if lock_conn is not None:  # the lock's connection may be gone too
                        with contextlib.suppress(Exception):
                            await lock_conn.close()
                        lock_conn = None
                        self.leader = False
                    await asyncio.sleep(backoff)  # commits must not cut the backoff short
                    backoff = min(backoff * 2, self.settings.relay_max_backoff_s)
        finally:
            self.leader = False
            if lock_conn is not None:
                with contextlib.suppress(Exception):
                    await lock_conn.close()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _lock_key(self) -> int:
        """One lock per outbox: the service and the schema its tables live in. Keyed by the
        service alone, two installs (or two test workers) sharing one PostgreSQL database in
        different schemas took turns: a relay waited for the other one's process to end
        while its own outbox filled up."""
        where = f"{self.settings.service_name}:{self.settings.database_schema or ''}"
        return zlib.crc32(f"zhanli-relay:{where}".encode()) & 0x7FFFFFFF

    async def _hold_leader_lock(self, conn: AsyncConnection | None) -> AsyncConnection | None:
        """The lock's connection when this relay leads, else None.

        A leader's connection is checked before every batch: when it is gone (the database
        restarted, the backend was terminated, the network cut), so is the lock, and
        another replica may already lead; this one stops publishing at once."""
        if conn is not None:
            try:
                await asyncio.wait_for(conn.exec_driver_sql("SELECT 1"), 5.0)
                await conn.rollback()
                return conn
            except Exception as exc:
                log.warning(
                    "relay.stepped_down", service=self.settings.service_name, error=repr(exc)
                )
                self.leader = False
                self.step_downs += 1
                await self._close_producer()
                with contextlib.suppress(Exception):
                    await conn.close()
        conn = await self.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._lock_key()})
            ).scalar()
            await conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        if got:
            log.info("relay.leader", service=self.settings.service_name)
            return conn
        self.leader = False
        await conn.close()
        return None

    async def _follow_epoch(self) -> None:
        """When the broker is another one than the rows were sent to, make every retained
        row it never had unsent again (they go out before newer rows, in id order)."""
        await self._ensure_producer()
        observed = self._observed_epoch
        if observed is None or observed == self.epoch:
            return
        outbox = self.tables.outbox
        async with self.sessions() as session:
            result = await session.execute(
                update(outbox)
                .where(
                    outbox.c.sent_at.is_not(None),
                    outbox.c.sent_epoch.is_not(None),
                    outbox.c.sent_epoch != observed,
                )
                .values(sent_at=None, sent_epoch=None)
            )
            await session.commit()
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning(
                "relay.broker_forgot",
                previous=self.epoch,
                epoch=observed,
                rows_sent_again=count,
            )
            metrics.relay_resent.labels(self.settings.service_name).inc(count)
            self.republished_total += count
        elif self.epoch is not None:
            log.info("relay.new_broker_epoch", previous=self.epoch, epoch=observed)
        previous, self.epoch = self.epoch, observed
        self._last_offsets.clear()
        # The new broker's topics, not the old one's: a row sent to a topic it does not
        # have yet is acknowledged and lost, and marked sent under the new epoch it would
        # never go again.
        self._topics = set()
        if previous is not None:  # not at start-up: a broker that came back
            self._new_broker_at = time.monotonic()

    async def _known_topics(self, producer: AIOKafkaProducer) -> set[str]:
        metadata = await producer.client.fetch_all_metadata()
        self._topics = set(metadata.topics())
        return self._topics

    async def drain_once(self) -> int:
        """Publish one batch of unsent rows; return how many were sent.

        No database connection is held while waiting for the broker's acknowledgements.
        """
        outbox = self.tables.outbox
        service = self.settings.service_name
        async with self.sessions() as session:
            rows = await read_unsent(session, outbox, self.settings.relay_batch_size)
        if not rows:
            metrics.outbox_backlog.labels(service).set(0)
            return 0
        metrics.outbox_backlog.labels(service).set(len(rows))
        producer = await self._ensure_producer()
        epoch = self.epoch
        refused: dict[int, tuple[Any, BaseException]] = {}
        blocked: set[tuple[str, str]] = set()  # a key whose earlier row failed waits
        pending = []
        refreshed = False
        waiting = 0
        new_broker = time.monotonic() - self._new_broker_at < self.settings.relay_new_broker_grace_s
        for row in rows:
            if row.key is not None and (row.topic, row.key) in blocked:
                continue
            if row.topic not in self._topics and not refreshed:
                await self._known_topics(producer)
                refreshed = True
            if row.topic not in self._topics and new_broker:
                # a new broker whose topics are being created: the row waits, unsent
                waiting += 1
                if row.key is not None:
                    blocked.add((row.topic, row.key))
                continue
            try:
                if row.topic not in self._topics:
                    raise UnknownTopicOrPartitionError(f"the broker has no topic {row.topic}")
                future = await producer.send(
                    row.topic,
                    value=row.payload.encode(),
                    key=row.key.encode() if row.key else None,
                    headers=[("content-type", b"application/cloudevents+json")],
                )
            except KafkaError as exc:
                if not refused_by_broker(exc):
                    raise
                refused[row.id] = (row, exc)
                if row.key is not None:
                    blocked.add((row.topic, row.key))
                continue
            pending.append((row, future))
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        sent_ids: list[int] = []
        trouble: BaseException | None = None
        for (row, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                if refused_by_broker(result):
                    refused[row.id] = (row, result)
                else:
                    trouble = result
                continue
            sent_ids.append(row.id)
            tp = TopicPartition(result.topic, result.partition)
            if result.offset <= self._last_offsets.get(tp, -1):
                self._epoch_poke.set()  # offsets went backwards: a new broker, look now
            self._last_offsets[tp] = max(result.offset, self._last_offsets.get(tp, -1))
        now = utcnow()
        async with self.sessions() as session:
            if sent_ids:
                await session.execute(
                    update(outbox)
                    .where(one_of(outbox.c.id, sent_ids, self.engine.dialect.name))
                    .values(sent_at=now, sent_epoch=epoch, attempts=outbox.c.attempts + 1)
                )
            for row, error in refused.values():
                attempts = row.attempts + 1
                park = attempts >= self.settings.relay_max_attempts
                await session.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=attempts,
                        last_error=f"{type(error).__name__}: {error}"[:2000],
                        parked_at=now if park else None,
                    )
                )
                if park:
                    log.error(
                        "relay.parked",
                        outbox_id=row.id,
                        topic=row.topic,
                        key=row.key,
                        attempts=attempts,
                        error=repr(error),
                    )
                    metrics.outbox_parked_total.labels(service).inc()
            await session.commit()
        if waiting:
            log.info("relay.waiting_for_topics", rows=waiting)
        self.waiting_for_topics = waiting
        self.sent_total += len(sent_ids)
        self.refused_total += len(refused)
        self._refusal_streak = self._refusal_streak + 1 if refused else 0
        metrics.events_published.labels(service).inc(len(sent_ids))
        if refused:
            metrics.relay_refused.labels(service).inc(len(refused))
            await self.refresh_parked_gauge()
        if trouble is not None:
            raise trouble
        return len(sent_ids)

    async def refresh_parked_gauge(self) -> int:
        parked = await count_parked(self.sessions, self.tables)
        metrics.outbox_parked.labels(self.settings.service_name).set(parked)
        return parked

    async def _purge_when_due(self) -> None:
        if time.monotonic() - self._purged_at < self.settings.event_purge_interval_s:
            return
        self._purged_at = time.monotonic()
        try:
            outbox_rows, inbox_rows = await purge_event_tables(
                self.sessions, self.tables, self.settings
            )
            await self.refresh_parked_gauge()
        except Exception as exc:  # a purge that fails is tried again next time
            log.warning("relay.purge_failed", error=repr(exc))
            return
        if outbox_rows or inbox_rows:
            log.info("relay.purged", outbox_rows=outbox_rows, inbox_rows=inbox_rows)


def inbox_retention(settings: ServiceSettings) -> dt.timedelta:
    """How long an applied event id is remembered: at least a day longer than a sent row is
    kept (the relay may send it again within that time)."""
    return dt.timedelta(
        seconds=max(settings.inbox_retention_s, settings.outbox_sent_retention_s + 86400)
    )


async def purge_event_tables(
    sessions: async_sessionmaker[AsyncSession],
    tables: EventTables,
    settings: ServiceSettings,
    *,
    now: dt.datetime | None = None,
    chunk: int = 5000,
) -> tuple[int, int]:
    """Delete sent outbox rows older than ``outbox_sent_retention_s`` and inbox rows older
    than ``inbox_retention``, in chunks (short transactions); never unsent or parked rows.
    Returns (outbox rows, inbox rows) deleted."""
    now = now or utcnow()
    outbox, inbox = tables.outbox, tables.inbox
    sent_before = now - dt.timedelta(seconds=settings.outbox_sent_retention_s)
    seen_before = now - inbox_retention(settings)
    counts = [0, 0]
    statements = [
        lambda: delete(outbox).where(
            outbox.c.id.in_(select(outbox.c.id).where(outbox.c.sent_at < sent_before).limit(chunk))
        ),
        lambda: delete(inbox).where(
            tuple_(inbox.c.consumer, inbox.c.event_id).in_(
                select(inbox.c.consumer, inbox.c.event_id)
                .where(inbox.c.processed_at < seen_before)
                .limit(chunk)
            )
        ),
    ]
    for i, statement in enumerate(statements):
        while True:
            async with sessions() as session:
                result = await session.execute(statement())
                await session.commit()
            deleted = int(getattr(result, "rowcount", 0) or 0)
            counts[i] += deleted
            if deleted < chunk:
                break
    return counts[0], counts[1]


async def count_parked(sessions: async_sessionmaker[AsyncSession], tables: EventTables) -> int:
    outbox = tables.outbox
    async with sessions() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.parked_at.is_not(None))
                )
            ).scalar()
            or 0
        )


__all__ = [
    "EPOCH_TOPIC",
    "OutboxRelay",
    "count_parked",
    "purge_event_tables",
    "read_unsent",
    "refused_by_broker",
    "unsent_rows_query",
]
