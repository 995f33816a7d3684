"""The consumer runner: at-least-once delivery made idempotent by an inbox.

For each message: open one transaction, record (consumer, event id) in the inbox, run
the handler, commit; only then commit the Kafka offset. A redelivered event finds its
inbox row and changes nothing. A handler that keeps failing is retried a bounded number
of times, then the message goes to the consumer group's dead-letter topic with the
error, and the consumer goes on. A message that is not a valid event goes there at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_shared.db import bulk_insert, one_of, utcnow
from zhanli_shared.events.contracts.base import EventContract, contract_for_topic
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import (
    BrokerEpoch,
    dead_letter_topic,
    make_consumer,
    make_producer,
)
from zhanli_shared.events.outbox import EventTables
from zhanli_shared.observability import bind_event_context, clear_event_context, metrics
from zhanli_shared.settings import ServiceSettings

log = structlog.get_logger("zhanli.consumer")

Handler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, list[tuple[Any, CloudEvent]]], Awaitable[None]]


# Infrastructure failures: retried until they pass, never dead-lettered.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class PoisonMessage(Exception):
    """A message that can never be handled (not an event, or not its contract)."""


@dataclass
class HandlerRegistry:
    """Maps event contracts to handlers: ``@registry.on(PaymentReceived)``."""

    handlers: dict[str, tuple[type[EventContract], Handler]] = field(default_factory=dict)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)

    def on(self, contract: type[EventContract]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[contract.topic_name()] = (contract, fn)
            return fn

        return register

    def on_batch(self, contract: type[EventContract]) -> Callable[[BatchHandler], BatchHandler]:
        """A handler for a whole run of one topic's events, in one transaction.

        It must leave the database exactly as the per-event handler (``on``, required as
        well) would after handling the same events one by one; the runner falls back to
        that one, event by event, when the batch handler raises."""

        def register(fn: BatchHandler) -> BatchHandler:
            self.batch_handlers[contract.topic_name()] = fn
            return fn

        return register

    @property
    def topics(self) -> list[str]:
        return sorted(self.handlers)


def decode(record: ConsumerRecord) -> tuple[CloudEvent, EventContract]:
    """Parse the envelope and the payload of its contract, or raise PoisonMessage."""
    try:
        envelope = CloudEvent.from_json(record.value)
    except Exception as exc:
        raise PoisonMessage(f"not a CloudEvents JSON envelope: {exc}") from exc
    if envelope.type != record.topic:
        raise PoisonMessage(f"event type {envelope.type!r} does not match topic {record.topic!r}")
    try:
        contract = contract_for_topic(envelope.type)
        payload = contract.model_validate(envelope.data)
    except (KeyError, ValidationError) as exc:
        raise PoisonMessage(f"payload does not match contract {envelope.type}: {exc}") from exc
    return envelope, payload


class _RewindOnAssign(ConsumerRebalanceListener):
    """After the broker turned out to be a new one, a partition assigned to this consumer
    whose offset it has not committed on the new broker yet is read from its beginning: the
    group's committed offset there may be one from the old log (committed in the second
    before the epoch watcher noticed), which would skip records of the new one. No time
    limit: a rebalance minutes later (a busy machine) must not resume from such an offset
    (see ``ConsumerRunner._watch_epoch``)."""

    def __init__(self, runner: ConsumerRunner, consumer: AIOKafkaConsumer) -> None:
        self.runner = runner
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if not self.runner._epoch_changes:
            return
        stale = [tp for tp in assigned if tp not in self.runner._fresh]
        if stale:
            await self.consumer.seek_to_beginning(*stale)
            self.runner.rewinds += 1
            log.warning("consumer.rewound_on_assign", partitions=len(stale))


class ConsumerRunner:
    def __init__(
        self,
        settings: ServiceSettings,
        sessions: async_sessionmaker[AsyncSession],
        tables: EventTables,
        registry: HandlerRegistry,
        *,
        group_id: str | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.tables = tables
        self.registry = registry
        self.group_id = group_id or settings.consumer_group
        self.after_commit = after_commit
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = False
        self.handled_total = 0
        self.dead_lettered_total = 0
        self._epoch_reader = BrokerEpoch(settings)
        self._epoch: str | None = None
        self._epoch_task: asyncio.Task[None] | None = None
        self._rewind = False
        # New epochs seen since start, and the partitions whose committed offset on the
        # current broker this consumer wrote itself from the current log.
        self._epoch_changes = 0
        self._fresh: set[TopicPartition] = set()
        self.rewinds = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"consumer-{self.group_id}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close()

    async def _close(self) -> None:
        if self._epoch_task is not None:
            self._epoch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._epoch_task
            self._epoch_task = None
        await self._epoch_reader.close()
        for client in (self._consumer, self._dlq):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = None
        self._dlq = None
        self.connected = False

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._connect()
                backoff = 0.2
                await self._poll_forever()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer.reconnect", error=str(exc), backoff_s=backoff)
                await self._close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _connect(self) -> None:
        if self._consumer is not None:
            return
        consumer = make_consumer(self.settings, [], self.group_id)
        producer = make_producer(self.settings)
        try:
            await producer.start()
            if self._epoch is None:
                # Nothing is read before the consumer knows which broker it reads: a restart
                # before its first look would leave it no older epoch to compare with, and
                # its positions from the old log would go unnoticed.
                self._epoch = await self._epoch_reader.read(producer)
            await consumer.start()
            consumer.subscribe(self.registry.topics, listener=_RewindOnAssign(self, consumer))
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._consumer, self._dlq = consumer, producer
        self._epoch_task = asyncio.create_task(
            self._watch_epoch(producer), name=f"consumer-epoch-{self.group_id}"
        )
        self.connected = True

    async def _watch_epoch(self, producer: AIOKafkaProducer) -> None:
        """Notice a broker that forgot its log (``kafka.BrokerEpoch``): its consumer group
        offsets are gone, and a position kept from the old log would skip records of the
        new one (where the relays send again what it lost), so the consumer reads its
        partitions again from the beginning; the inbox skips what it had applied."""
        while True:
            try:
                epoch = await self._epoch_reader.read(producer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("consumer.epoch_unknown", error=repr(exc))
                await self._epoch_reader.close()
            else:
                if self._epoch is not None and epoch != self._epoch:
                    log.warning("consumer.broker_forgot", previous=self._epoch, epoch=epoch)
                    self._rewind = True
                    # The group settles on the new broker through rebalances, each resetting
                    # positions to committed offsets, some from the old log; a partition
                    # assigned later starts from the beginning until this consumer has
                    # committed it from the new log (``_RewindOnAssign``).
                    self._epoch_changes += 1
                    self._fresh = set()
                self._epoch = epoch
            await asyncio.sleep(self.settings.relay_epoch_check_interval_s)

    async def _rewind_if_broker_forgot(self) -> None:
        assert self._consumer is not None
        if not self._rewind:
            return
        assignment = [tp for tp in self._consumer.assignment() if tp not in self._fresh]
        if not assignment:
            if self._consumer.assignment():
                self._rewind = False
            return
        await self._consumer.seek_to_beginning(*assignment)
        starts = await self._consumer.beginning_offsets(assignment)
        await self._consumer.commit(dict(starts.items()))
        self._fresh.update(assignment)
        self._rewind = False  # only once the new broker holds the rewound offsets
        self.rewinds += 1
        metrics.consumer_rewinds.labels(self.settings.service_name).inc()
        log.warning("consumer.rewound", partitions=len(assignment))

    async def _poll_forever(self) -> None:
        assert self._consumer is not None
        while not self._stopping:
            await self._rewind_if_broker_forgot()
            # Fetched after the rewind, under no newer epoch: what it commits is from the
            # new log (records fetched before a change noticed meanwhile may be old ones).
            changes, settled = self._epoch_changes, not self._rewind
            batches = await self._consumer.getmany(timeout_ms=500)
            if not batches:
                continue
            # One pass over everything fetched, the partitions of a topic side by side so
            # a batch handler takes them in one transaction (each partition stays in its
            # order; there is no order across partitions to keep). Offsets are committed
            # once all of it is.
            ordered = sorted(batches.items(), key=lambda item: (item[0].topic, item[0].partition))
            await self.process_batch([r for _, records in ordered for r in records])
            await self._consumer.commit({tp: records[-1].offset + 1 for tp, records in ordered})
            if changes and settled and changes == self._epoch_changes:
                self._fresh.update(tp for tp, _ in ordered)

    async def process_batch(self, records: list[ConsumerRecord]) -> None:
        """Handle a fetch's records (each partition's in its order) in as few
        transactions as possible.

        A topic with a batch handler has each run of its good records applied by that
        handler in one transaction (when it fails, the run goes event by event below).
        Consecutive good records share one transaction, each handler in a savepoint, so
        a busy service keeps up with its events. A poison record or a failing handler
        ends the run: what came before it is committed, the record is dead-lettered or
        retried on its own (bounded), and the rest continue in a new transaction. A
        transient database error sends the run through ``process`` one record at a time.
        """
        start = 0
        while start < len(records):
            batch_fn = self.registry.batch_handlers.get(records[start].topic)
            if batch_fn is not None:
                done = await self._apply_batch(records, start, batch_fn)
                if done is not None and done > start:
                    start = done
                    continue
            start = await self._apply_run(records, start)

    async def _apply_batch(
        self, records: list[ConsumerRecord], start: int, batch_fn: BatchHandler
    ) -> int | None:
        """Apply the leading run of one topic's good records with its batch handler, in
        one transaction; return the next index (``start`` when the first record is
        poison), or None when the handler failed and the run must go event by event."""
        topic = records[start].topic
        items: list[tuple[CloudEvent, EventContract]] = []
        for record in records[start:]:
            if record.topic != topic:
                break
            try:
                items.append(decode(record))
            except PoisonMessage:
                break
        if not items:
            return start
        fresh: list[tuple[Any, CloudEvent]] = []
        duplicates = 0
        try:
            async with self.sessions() as session:
                claimed = await self._claim(session, [envelope for envelope, _ in items])
                payloads: dict[str, EventContract] = {}
                for envelope, payload in items:
                    payloads.setdefault(envelope.id, payload)
                fresh = [(payloads[envelope.id], envelope) for envelope in claimed]
                duplicates = len(items) - len(fresh)
                if fresh:
                    await batch_fn(session, fresh)
                    await session.commit()
        except TRANSIENT as exc:
            log.warning("consumer.batch_transient", error=repr(exc), records=len(items))
            return None
        except Exception as exc:
            log.warning("consumer.batch_failed", error=repr(exc), records=len(items), topic=topic)
            return None
        self.handled_total += len(fresh)
        if fresh:
            metrics.events_consumed.labels(self.settings.service_name, topic, "applied").inc(
                len(fresh)
            )
        if duplicates:
            metrics.events_consumed.labels(self.settings.service_name, topic, "duplicate").inc(
                duplicates
            )
        if self.after_commit is not None and session.info.get("published"):
            self.after_commit()
        return start + len(items)

    async def _apply_run(self, records: list[ConsumerRecord], start: int) -> int:
        """Apply records[start:] one by one (each in a savepoint of one transaction) until
        one needs handling alone, or another topic's batch handler can take over; return the
        next index."""
        end = next(
            (
                i
                for i in range(start + 1, len(records))
                if records[i].topic != records[start].topic
                and records[i].topic in self.registry.batch_handlers
            ),
            len(records),
        )
        stop_at = end
        alone: ConsumerRecord | None = None
        applied = 0
        try:
            async with self.sessions() as session:
                candidates = []
                for record in records[start:end]:
                    try:
                        candidates.append((record, *decode(record)))
                    except PoisonMessage:
                        break
                seen = await self._applied(session, [c[1].id for c in candidates])
                index = start
                for record, envelope, payload in candidates:
                    if envelope.id in seen:
                        metrics.events_consumed.labels(
                            self.settings.service_name, envelope.type, "duplicate"
                        ).inc()
                        index += 1
                        continue
                    bind_event_context(envelope.id, envelope.type)
                    try:
                        async with session.begin_nested():
                            # claimed inside the savepoint: a failing handler un-claims it
                            await self._claim(session, [envelope], known=seen)
                            await self.registry.handlers[envelope.type][1](
                                session, payload, envelope
                            )
                    except TRANSIENT:
                        raise
                    except Exception as exc:
                        log.warning("consumer.handler_failed", attempt=1, error=repr(exc))
                        alone = record
                        break
                    finally:
                        clear_event_context()
                    applied += 1
                    metrics.events_consumed.labels(
                        self.settings.service_name, envelope.type, "applied"
                    ).inc()
                    index += 1
                stop_at = index
                if stop_at < end and alone is None:
                    alone = records[stop_at]  # the poison record that ended the run
                await session.commit()
        except TRANSIENT as exc:
            log.warning("consumer.batch_fallback", error=repr(exc), records=end - start)
            for record in records[start:end]:
                await self.process(record)
            return end
        self.handled_total += applied
        if self.after_commit is not None and session.info.get("published"):
            self.after_commit()
        if alone is None:
            return stop_at
        # A failed handler has used one attempt already; a poison record none.
        await self.process(alone, attempts_used=0 if stop_at == len(candidates) + start else 1)
        return stop_at + 1

    async def process(self, record: ConsumerRecord, attempts_used: int = 0) -> None:
        """Handle one record to the end: applied, skipped as a duplicate, or dead-lettered."""
        try:
            envelope, payload = decode(record)
        except PoisonMessage as exc:
            await self._dead_letter(record, exc, attempts=0)
            return
        bind_event_context(envelope.id, envelope.type)
        try:
            _, handler = self.registry.handlers[envelope.type]
            last_exc: BaseException | None = None
            attempt = attempts_used
            transient_wait = 0.1
            while attempt < self.settings.consumer_max_attempts:
                attempt += 1
                try:
                    applied = await self._apply(envelope, payload, handler)
                    if applied:
                        self.handled_total += 1
                        metrics.events_consumed.labels(
                            self.settings.service_name, envelope.type, "applied"
                        ).inc()
                    else:
                        metrics.events_consumed.labels(
                            self.settings.service_name, envelope.type, "duplicate"
                        ).inc()
                    return
                except asyncio.CancelledError:
                    raise
                except TRANSIENT as exc:
                    # The database is down or busy: not the message's fault. Wait and try
                    # again without spending an attempt; the offset stays uncommitted.
                    attempt -= 1
                    log.warning("consumer.transient_error", error=repr(exc), wait_s=transient_wait)
                    await asyncio.sleep(transient_wait)
                    transient_wait = min(transient_wait * 2, 5.0)
                    continue
                except Exception as exc:
                    last_exc = exc
                    log.warning("consumer.handler_failed", attempt=attempt, error=repr(exc))
                    if attempt < self.settings.consumer_max_attempts:
                        await asyncio.sleep(
                            self.settings.consumer_retry_backoff_s * 2 ** (attempt - 1)
                        )
            assert last_exc is not None
            await self._dead_letter(record, last_exc, attempts=self.settings.consumer_max_attempts)
        finally:
            clear_event_context()

    async def _apply(self, envelope: CloudEvent, payload: EventContract, handler: Handler) -> bool:
        async with self.sessions() as session:
            try:
                if not await self._claim(session, [envelope]):
                    return False
                await handler(session, payload, envelope)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if self.after_commit is not None and session.info.get("published"):
            self.after_commit()
        return True

    async def _applied(self, session: AsyncSession, ids: list[str]) -> set[str]:
        """The ids among ``ids`` this consumer group has applied already."""
        inbox = self.tables.inbox
        dialect = (await session.connection()).dialect.name
        seen: set[str] = set()
        for i in range(0, len(ids), 1000):
            seen.update(
                (
                    await session.execute(
                        select(inbox.c.event_id).where(
                            inbox.c.consumer == self.group_id,
                            one_of(inbox.c.event_id, ids[i : i + 1000], dialect),
                        )
                    )
                ).scalars()
            )
        return seen

    async def _claim(
        self,
        session: AsyncSession,
        envelopes: list[CloudEvent],
        *,
        known: set[str] | None = None,
    ) -> list[CloudEvent]:
        """The one place the consumer claims events (batch, savepoint run, single event):
        the envelopes neither applied before nor repeated earlier in ``envelopes``, whose
        inbox rows are now written in ``session`` (committed with the handler's writes, or
        rolled back with them). ``known`` is a set of applied ids the caller looked up once
        for a run it claims event by event; the claimed ids are added to it."""
        seen = (
            known if known is not None else await self._applied(session, [e.id for e in envelopes])
        )
        fresh: list[CloudEvent] = []
        for envelope in envelopes:
            if envelope.id in seen:
                continue
            seen.add(envelope.id)
            fresh.append(envelope)
        if fresh:
            now = utcnow()
            rows = [
                {
                    "consumer": self.group_id,
                    "event_id": envelope.id,
                    "topic": envelope.type,
                    "processed_at": now,
                }
                for envelope in fresh
            ]
            if len(rows) == 1:
                await session.execute(insert(self.tables.inbox).values(**rows[0]))
            else:
                await bulk_insert(await session.connection(), self.tables.inbox, rows)
        return fresh

    async def _dead_letter(self, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        assert self._dlq is not None
        topic = dead_letter_topic(self.group_id)
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
        headers = [
            ("zhanli-dlq-original-topic", record.topic.encode()),
            ("zhanli-dlq-original-partition", str(record.partition).encode()),
            ("zhanli-dlq-original-offset", str(record.offset).encode()),
            ("zhanli-dlq-consumer", self.group_id.encode()),
            ("zhanli-dlq-attempts", str(attempts).encode()),
            ("zhanli-dlq-error", error.encode()),
        ]
        await self._dlq.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
        self.dead_lettered_total += 1
        metrics.events_dead_lettered.labels(self.settings.service_name, record.topic).inc()
        log.error(
            "consumer.dead_lettered",
            topic=record.topic,
            offset=record.offset,
            dlq=topic,
            error=error,
        )

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer else set()
