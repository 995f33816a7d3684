"""aiokafka clients configured the platform's way, whatever aiokafka's defaults are.

aiokafka defaults to acks=1, auto-commit on and offset reset 'latest'; Zhanli needs
acks=all, manual commits after the database commit, and 'earliest' so a new consumer
group misses nothing. Idempotence is a setting: on for Apache Kafka, off for Tansu,
which refuses InitProducerId.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

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


async def ensure_topics(settings: ServiceSettings, topics: list[str]) -> list[str]:
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
                            t, settings.kafka_topic_partitions, settings.kafka_replication_factor
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
    import asyncio

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
