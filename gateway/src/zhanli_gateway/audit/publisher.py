"""Straight to the broker, through a bounded in-memory buffer.

The gateway has no database, so it cannot use the outbox. What it publishes here is what
it saw at the edge (a sign-in, a 403), not a business change: the request it describes is
already answered and nothing to roll back depends on the event. So the buffer trades a
bounded loss for an edge that never waits on the broker and never fails a request:

- ``publish`` never blocks and never raises: it appends to a queue of at most
  ``max_buffered`` events; beyond that an event is dropped and counted
  (``zhanli_gateway_audit_events_total{outcome="dropped"}``) and logged;
- one task sends the queue in order with acks=all and removes an event only once the
  broker has it; while the broker is down the queue waits (retried with backoff);
- a clean stop flushes the queue for up to ``stop_flush_s``; what is left is counted as
  dropped. A gateway killed with events queued loses them (at most ``max_buffered``).

A broker that forgets its log (Tansu's memory storage after a restart) would lose what it
had acknowledged and nobody had read yet: like the outbox relay, the publisher keeps what
it sent for ``resend_window_s`` (at most ``max_buffered`` events), checks the broker's
epoch (``zhanli_shared.events.kafka.BrokerEpoch``) every ``epoch_check_interval_s``, and
sends those events again to a broker of a new epoch.

A batch resent (after a partial failure, or to a new broker) arrives twice: the audit
service appends a fact once (its ``audit_id``), so that is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge

from zhanli_shared.events.contracts.base import EventContract
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import BrokerEpoch, make_producer
from zhanli_shared.settings import ServiceSettings

log = structlog.get_logger("zhanli.gateway.audit")

EVENTS = Counter(
    "zhanli_gateway_audit_events",
    "Audit events of the gateway (sign-ins, refusals): published to the broker or dropped "
    "(buffer full, or left at stop), or resent to a broker that forgot them",
    ["outcome"],
)
BUFFERED = Gauge("zhanli_gateway_audit_events_buffered", "Audit events waiting for the broker")
SOURCE = "zhanli/gateway"


class AuditEvents:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        max_buffered: int = 10_000,
        batch_size: int = 200,
        stop_flush_s: float = 5.0,
        resend_window_s: float = 600.0,
        epoch_check_interval_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.max_buffered = max_buffered
        self.batch_size = batch_size
        self.stop_flush_s = stop_flush_s
        self.resend_window_s = resend_window_s
        self.epoch_check_interval_s = epoch_check_interval_s
        self._queue: deque[tuple[str, bytes, bytes]] = deque()
        # What the broker acknowledged lately, for a broker that forgets (oldest first).
        self._sent: deque[tuple[float, tuple[str, bytes, bytes]]] = deque(maxlen=max_buffered)
        self._epoch_reader = BrokerEpoch(settings)
        self.epoch: str | None = None
        self._epoch_task: asyncio.Task[None] | None = None
        self._sending = asyncio.Lock()  # the queue's head is not touched while it is in flight
        self.resent = 0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.published = 0
        self.dropped = 0

    def publish(self, event: EventContract) -> bool:
        """Queue one event; False when the buffer is full (the event is dropped)."""
        if len(self._queue) >= self.max_buffered:
            self.dropped += 1
            EVENTS.labels("dropped").inc()
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "gateway.audit_event_dropped",
                    reason="buffer full (is the broker down?)",
                    dropped_total=self.dropped,
                    type=event.topic_name(),
                )
            return False
        envelope = CloudEvent(
            source=SOURCE,
            type=event.topic_name(),
            subject=event.partition_key(),
            data=event.model_dump(mode="json"),
        )
        self._queue.append((event.topic_name(), event.partition_key().encode(), envelope.to_json()))
        BUFFERED.set(len(self._queue))
        self._empty.clear()
        self._wake.set()
        return True

    @property
    def buffered(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-audit-events")
        self._epoch_task = asyncio.create_task(self._watch_epoch(), name="gateway-audit-epoch")

    async def stop(self) -> None:
        if self._epoch_task is not None:
            self._epoch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._epoch_task
            self._epoch_task = None
        await self._epoch_reader.close()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), self.stop_flush_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._queue:
            left = len(self._queue)
            self.dropped += left
            EVENTS.labels("dropped").inc(left)
            log.error("gateway.audit_events_lost_at_stop", count=left)
            self._queue.clear()
            BUFFERED.set(0)
        await self._close_producer()

    async def _drained(self) -> None:
        if self._queue:
            await self._empty.wait()

    async def _watch_epoch(self) -> None:
        while True:
            await asyncio.sleep(self.epoch_check_interval_s)
            producer = self._producer
            if producer is None:
                continue  # not connected (yet): the next send finds out
            try:
                epoch = await self._epoch_reader.read(producer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("gateway.audit_epoch_unknown", error=repr(exc))
                await self._epoch_reader.close()
                continue
            if self.epoch is None:
                self.epoch = epoch
            elif epoch != self.epoch:
                self.epoch = epoch
                async with self._sending:
                    self._resend_recent()

    def _resend_recent(self) -> None:
        """The broker is a new one: what the old one acknowledged lately goes again."""
        horizon = time.monotonic() - self.resend_window_s
        again = [item for at, item in self._sent if at >= horizon]
        self._sent.clear()
        self._queue.extendleft(reversed(again))
        self.resent += len(again)
        EVENTS.labels("resent").inc(len(again))
        log.warning("gateway.audit_events_resent", count=len(again), reason="new broker epoch")
        BUFFERED.set(len(self._queue))
        if again:
            self._empty.clear()
            self._wake.set()

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _run(self) -> None:
        wait = 0.2
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._send_some()
                wait = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker down or refusing: keep the queue, back off
                log.warning("gateway.audit_events_send_failed", error=repr(exc), wait_s=wait)
                await self._close_producer()
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)

    async def _send_some(self) -> None:
        if self._producer is None:
            producer = make_producer(self.settings)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        async with self._sending:
            batch = [self._queue[i] for i in range(min(self.batch_size, len(self._queue)))]
            futures = [
                await self._producer.send(topic, value, key=key) for topic, key, value in batch
            ]
            await asyncio.gather(*futures)
            now = time.monotonic()
            for item in batch:  # only now: the broker has every one of them
                self._queue.popleft()
                self._sent.append((now, item))
        self.published += len(batch)
        EVENTS.labels("published").inc(len(batch))
        BUFFERED.set(len(self._queue))
        if not self._queue:
            self._empty.set()
