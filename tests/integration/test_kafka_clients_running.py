"""The configuration the delivery guarantees rest on, read from the clients the relay and
the consumer actually run (not from the options they were given): producers wait for
every in-sync replica (acks=all), the consumer never commits on its own (offsets only
after the database commit), and idempotence is on wherever the broker allows it (off for
Tansu, which refuses InitProducerId; on, with read_committed, for Apache Kafka)."""

from __future__ import annotations

from typing import Any

from zl_evkit import ItemEvent, Svc, new_contract, settings_for

from zhanli_shared.events.consumer import ConsumerRunner, HandlerRegistry
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import dead_letter_topic, ensure_topics, make_producer
from zhanli_shared.events.relay import OutboxRelay
from zhanli_shared.testing.plugin import eventually

ACKS_ALL = -1  # aiokafka's wire value of acks="all"


async def test_the_running_relay_and_consumer_use_the_safe_settings(svc: Svc) -> None:
    contract = new_contract("clientcfg")
    group = f"zt-{svc.settings.service_name}"
    registry = HandlerRegistry()

    @registry.on(contract)
    async def ignore(session: Any, payload: ItemEvent, envelope: CloudEvent) -> None:
        return None

    await ensure_topics(svc.settings, [contract.topic_name(), dead_letter_topic(group)])
    relay = OutboxRelay(svc.settings, svc.engine, svc.sessions, svc.tables)
    consumer = ConsumerRunner(svc.settings, svc.sessions, svc.tables, registry, group_id=group)
    await relay.start()
    await consumer.start()
    try:
        await svc.publish(contract(item_id="cfg", seq=1))
        relay.wake()
        await eventually(lambda: relay._producer is not None, 60)
        await eventually(lambda: consumer._consumer is not None and consumer._dlq is not None, 60)
        producer, reader, dlq = relay._producer, consumer._consumer, consumer._dlq
        assert producer is not None and reader is not None and dlq is not None
        for p in (producer, dlq):
            assert p._sender._acks == ACKS_ALL  # aiokafka's default is 1
            # Tansu (the embedded broker) refuses idempotent producers: off here...
            assert svc.settings.kafka_enable_idempotence is False
            assert p._txn_manager is None
        assert reader._enable_auto_commit is False  # aiokafka's default is True
        assert reader._auto_offset_reset == "earliest"
        assert reader._isolation_level == "read_uncommitted"
    finally:
        await consumer.stop()
        await relay.stop()


async def test_idempotence_is_on_where_the_broker_allows_it() -> None:
    """...and on for a broker that supports it (Apache Kafka, the chart's setting)."""
    settings = settings_for("127.0.0.1:1", kafka_enable_idempotence=True)
    producer = make_producer(settings)
    assert producer._txn_manager is not None  # idempotent: sequence numbers per partition
    assert producer._sender._acks == ACKS_ALL
