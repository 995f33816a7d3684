"""aiokafka clients configured the platform's way, whatever aiokafka's defaults are.

aiokafka defaults to acks=1, auto-commit on and offset reset 'latest'; Zhanli needs
acks=all, manual commits after the database commit, and 'earliest' so a new consumer
group misses nothing. Idempotence is a setting: on for Apache Kafka, off for Tansu,
which refuses InitProducerId.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from zhanli_shared.settings import ServiceSettings


def _security(settings: ServiceSettings) -> dict[str, Any]:
    opts: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password:
            opts["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        opts["ssl_context"] = create_ssl_context()
    return opts


def producer_options(settings: ServiceSettings) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.kafka_client_id,
        "acks": "all",
        "enable_idempotence": settings.kafka_enable_idempotence,
        "linger_ms": 2,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 200,
        **_security(settings),
    }


def consumer_options(settings: ServiceSettings, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.kafka_client_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed"
        if settings.kafka_enable_idempotence
        else "read_uncommitted",
        "max_poll_records": settings.consumer_batch_size,
        "fetch_max_wait_ms": settings.consumer_fetch_max_wait_ms,
        "session_timeout_ms": settings.consumer_session_timeout_ms,
        "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
        **_security(settings),
    }


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings))


def make_consumer(settings: ServiceSettings, topics: list[str], group_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **consumer_options(settings, group_id))


def dead_letter_topic(group_id: str) -> str:
    """The dead-letter topic of one consumer group, e.g. ``zhanli.dlq.zhanli-kpi``."""
    return f"zhanli.dlq.{group_id}"


async def ensure_topics(
    settings: ServiceSettings,
    topics: list[str],
    *,
    partitions: int | None = None,
    config: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_id}-admin",
        **_security(settings),
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            partitions or settings.kafka_topic_partitions,
                            settings.kafka_replication_factor,
                            topic_configs=config or {},
                        )
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()


async def broker_reachable(settings: ServiceSettings, timeout_s: float = 2.0) -> bool:
    """True when the broker answers a metadata request within ``timeout_s``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_id}-health",
        request_timeout_ms=int(timeout_s * 1000),
        **_security(settings),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            pass


# --- the broker's incarnation ------------------------------------------------------------

EPOCH_TOPIC = "zhanli.broker-epoch"
CLOSE_TIMEOUT_S = 5.0
_closing: set[asyncio.Future[None]] = set()  # stops still finishing after their bound


def _consume_outcome(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a failed background stop is not an error to log


class BrokerEpoch:
    """Which broker the relay is talking to: the value of the first record of
    ``zhanli.broker-epoch`` (one partition, kept forever), written by the first client that
    finds the topic empty. A broker that keeps its log keeps its epoch; one that forgot it
    (Tansu's memory storage after a restart, a rebuilt cluster) gets a new one, and the
    relay then sends again what the old one had acknowledged (see ``relay.py``)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._tp = TopicPartition(EPOCH_TOPIC, 0)

    async def close(self) -> None:
        """Stop the reader, waiting at most ``CLOSE_TIMEOUT_S``: aiokafka's fetcher, cancelled
        while it cancels a fetch of an assignment just dropped, swallows its cancellation
        and the consumer's ``stop()`` then took about 100 s after a broker restart (a relay
        or consumer closing its reader stalled that long). Past the bound the stop finishes
        in the background."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            stopping = asyncio.ensure_future(consumer.stop())
            _closing.add(stopping)
            stopping.add_done_callback(_closing.discard)
            stopping.add_done_callback(_consume_outcome)
            try:
                await asyncio.wait_for(asyncio.shield(stopping), CLOSE_TIMEOUT_S)
            except TimeoutError:
                pass
            except asyncio.CancelledError:
                # aiokafka's fetcher can end in CancelledError when the broker is away;
                # a cancellation of this task itself goes on
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
            except Exception:
                pass

    async def _ensure_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                client_id=f"{self.settings.kafka_client_id or 'zhanli'}-epoch",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=50,
                request_timeout_ms=10_000,
                **_security(self.settings),
            )
            try:
                await consumer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def read(self, producer: AIOKafkaProducer, timeout_s: float = 5.0) -> str:
        """The current epoch; writes one when the topic is empty (or creates the topic)."""
        consumer = await self._ensure_consumer()
        if EPOCH_TOPIC not in await consumer.topics():
            await ensure_topics(self.settings, [EPOCH_TOPIC], partitions=1, config=EPOCH_CONFIG)
            await consumer.topics()
        # Assigned for the read only: an idle assignment keeps fetching in the background.
        consumer.assign([self._tp])
        try:
            for _ in range(2):
                await consumer.seek_to_beginning(self._tp)
                end = (await consumer.end_offsets([self._tp]))[self._tp]
                if end > 0:
                    batch = await asyncio.wait_for(
                        consumer.getmany(self._tp, timeout_ms=int(timeout_s * 1000)), timeout_s
                    )
                    records = batch.get(self._tp) or []
                    if records and records[0].value:
                        return records[0].value.decode()
                    raise KafkaError(f"{EPOCH_TOPIC} has records but none could be read")
                await producer.send_and_wait(
                    EPOCH_TOPIC, value=uuid.uuid4().hex.encode(), partition=0
                )
        finally:
            consumer.unsubscribe()
        raise KafkaError(f"could not establish the broker epoch in {EPOCH_TOPIC}")


# Kept forever: a marker that expired would look like a new broker.
EPOCH_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
