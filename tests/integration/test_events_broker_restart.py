"""A broker that forgets: Tansu with memory storage killed mid-stream and restarted the
way ``make run``'s supervisor does (same port, topics created again). Every event a
service committed must still be applied exactly once by its consumer: the relay finds
the broker is a new one and sends again what the old one had acknowledged, and the
consumer's inbox skips what it had already applied. The same stream without a fault is
counted exactly.

Runs on SQLite and (with TEST_DATABASE_URL) on PostgreSQL; each case has its own broker,
topic, consumer group and rows.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from zl_evkit import ItemEvent, Svc, new_contract, open_service, read_topic

from zhanli_shared.events.consumer import ConsumerRunner, HandlerRegistry
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import BrokerEpoch, dead_letter_topic, ensure_topics, make_producer
from zhanli_shared.events.relay import OutboxRelay
from zhanli_shared.testing.broker import TansuBroker
from zhanli_shared.testing.plugin import DatabaseTarget, eventually

EVENTS = 300
PER_COMMIT = 5
KILL_AFTER = 200


async def _stream(db_target: DatabaseTarget, tmp_path: Path, *, kill: bool) -> None:
    own = TansuBroker(log_path=tmp_path / "tansu.log").start()
    svc: Svc = await open_service(
        db_target.url,
        db_target.schema,
        own.bootstrap,
        relay_epoch_check_interval_s=0.3,
        consumer_batch_size=20,  # small fetches: the consumer is mid-way when the broker dies
    )
    contract = new_contract("restart" if kill else "steady")
    topic = contract.topic_name()
    group = f"zt-{svc.settings.service_name}"
    topics = [topic, dead_letter_topic(group)]
    registry = HandlerRegistry()

    @registry.on(contract)
    async def credit(session: Any, payload: ItemEvent, envelope: CloudEvent) -> None:
        await asyncio.sleep(0.005)  # a consumer slower than the relay: it lags
        await session.execute(
            insert(svc.effects).values(
                event_id=envelope.id, topic=envelope.type, item_id=payload.item_id, seq=payload.seq
            )
        )

    relay = OutboxRelay(svc.settings, svc.engine, svc.sessions, svc.tables)
    consumer = ConsumerRunner(
        svc.settings, svc.sessions, svc.tables, registry, group_id=group, after_commit=relay.wake
    )
    effects = svc.effects
    published: list[str] = []

    async def applied() -> int:
        return int(
            await svc.scalar(
                select(func.count(func.distinct(effects.c.event_id))).where(
                    effects.c.topic == topic
                )
            )
        )

    try:
        await ensure_topics(svc.settings, topics)
        await relay.start()
        await consumer.start()
        for start in range(0, EVENTS, PER_COMMIT):
            envelopes = await svc.publish(
                *(contract(item_id=f"p{i % 7}", seq=i) for i in range(start, start + PER_COMMIT))
            )
            published += [e.id for e in envelopes]
            relay.wake()
            if kill and start + PER_COMMIT == KILL_AFTER:
                # mid-stream: some events delivered and read, some delivered and not yet read
                # delivered: all so far; read and applied: some (the rest only in the log)
                await eventually(lambda: relay.sent_total >= KILL_AFTER, 30)
                await eventually(lambda: _at_least(applied(), 20), 30, 0.01)
                assert await applied() < KILL_AFTER, "some delivered events are not read yet"
                assert own.proc is not None
                own.proc.kill()
                own.proc.wait(5)
                own.stop()
                own.start()  # as the supervisor does: same port, empty log, topics again
                await ensure_topics(svc.settings, topics)
            await asyncio.sleep(0)
        try:
            await eventually(lambda: _equals(applied(), EVENTS), 45, 0.1)
        except AssertionError:
            raise AssertionError(await _diagnose(svc, own, topic, consumer)) from None

        rows = await svc.rows(
            select(effects.c.event_id, effects.c.item_id, effects.c.seq).where(
                effects.c.topic == topic
            )
        )
        assert sorted(r.event_id for r in rows) == sorted(published), "each event exactly once"
        if kill:
            assert relay.republished_total > 0, "the relay sent again what the broker forgot"
            assert consumer.rewinds > 0, "the consumer read the new broker from its start"
        else:
            assert relay.republished_total == 0 and consumer.rewinds == 0
            assert relay.sent_total == EVENTS
        per_item: dict[str, list[int]] = {}
        for r in sorted(rows, key=lambda r: r.seq):
            per_item.setdefault(r.item_id, []).append(r.seq)
        assert sum(len(v) for v in per_item.values()) == EVENTS
    finally:
        await consumer.stop()
        await relay.stop()
        own.stop()
        await svc.close()


async def _diagnose(svc: Svc, own: TansuBroker, topic: str, consumer: ConsumerRunner) -> str:
    """Which records of the new log were never applied, and where the consumer stands."""
    records = await read_topic(own.bootstrap, topic)
    effects = svc.effects
    done = {
        r.event_id
        for r in await svc.rows(select(effects.c.event_id).where(effects.c.topic == topic))
    }
    missing = [
        (r.partition, r.offset) for r in records if CloudEvent.from_json(r.value).id not in done
    ]
    c = consumer._consumer
    positions = {tp.partition: await c.position(tp) for tp in c.assignment()} if c else None
    per_partition = sorted(Counter(r.partition for r in records).items())
    return (
        f"applied {len(done)}; log per partition {per_partition}; never applied (partition, "
        f"offset) {missing[:20]}; positions {positions}; rewinds {consumer.rewinds}"
    )


async def _at_least(value: Any, expected: int) -> bool:
    return await value >= expected


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected


async def test_broker_killed_mid_stream_every_event_is_applied_exactly_once(
    db_target: DatabaseTarget, tmp_path: Path
) -> None:
    # below pytest's own timeout, so that a hang fails where it hangs (the traceback)
    async with asyncio.timeout(100):
        await _stream(db_target, tmp_path, kill=True)


async def test_the_same_stream_without_a_fault_is_counted_exactly(
    db_target: DatabaseTarget, tmp_path: Path
) -> None:
    # below pytest's own timeout, so that a hang fails where it hangs (the traceback)
    async with asyncio.timeout(100):
        await _stream(db_target, tmp_path, kill=False)


async def test_rows_sent_again_wait_for_their_topic_on_the_new_broker(
    db_target: DatabaseTarget, tmp_path: Path
) -> None:
    """Tansu acknowledges a record for a topic it does not have (sent straight to a
    partition by a producer whose metadata still holds the old broker's topics), and that
    record can never be read. A restarted memory broker has no topic until the supervisor
    creates them again; a relay that found the new epoch in that moment (another client
    wrote it) marked the rows it sent again as sent under the new epoch: lost for good
    (the two payments of 240 a loaded CI run never counted). Now a row waits for its topic
    on the new broker, and every row goes out once the topic exists."""
    async with asyncio.timeout(100):
        own = TansuBroker(log_path=tmp_path / "tansu.log").start()
        # the relay looks at the epoch only when told to (the test decides when)
        svc = await open_service(
            db_target.url, db_target.schema, own.bootstrap, relay_epoch_check_interval_s=3600
        )
        contract = new_contract("late_topic")
        topic = contract.topic_name()
        relay = OutboxRelay(svc.settings, svc.engine, svc.sessions, svc.tables)
        other = None
        try:
            await ensure_topics(svc.settings, [topic])
            published = await svc.publish(*(contract(item_id="k", seq=i) for i in range(10)))
            await relay._follow_epoch()
            assert await relay.drain_once() == 10
            old_epoch = relay.epoch
            producer = relay._producer
            assert producer is not None and old_epoch is not None

            assert own.proc is not None
            own.proc.kill()
            own.proc.wait(5)
            own.stop()
            # while the broker is away the producer's metadata cannot be refreshed: it keeps
            # the old broker's topics and partitions (as after any restart slower than its
            # one refresh attempt)
            assert not await producer.client.force_metadata_update()
            own.start()  # empty, and its topics not created again yet
            # another client (a consumer, another service's relay) writes the new epoch
            other = make_producer(svc.settings)
            await other.start()
            reader = BrokerEpoch(svc.settings)
            try:
                new_epoch = await reader.read(other)
            finally:
                await reader.close()
            assert new_epoch != old_epoch
            relay._epoch_poke.set()
            await eventually(lambda: relay._observed_epoch == new_epoch, 30, 0.05)

            published += await svc.publish(*(contract(item_id="k", seq=i) for i in range(10, 20)))
            await relay._follow_epoch()
            assert relay.epoch == new_epoch and relay.republished_total == 10
            assert await relay.drain_once() == 0, "nothing is sent to a topic the broker lacks"
            assert relay.waiting_for_topics > 0

            await ensure_topics(svc.settings, [topic])  # as the supervisor does, a moment late

            async def drained() -> bool:
                await relay.drain_once()
                return (
                    await svc.count(svc.tables.outbox, svc.tables.outbox.c.sent_at.is_(None)) == 0
                )

            await eventually(drained, 30, 0.1)
            records = await read_topic(own.bootstrap, topic)
            found = {CloudEvent.from_json(r.value).id for r in records}
            assert found == {e.id for e in published}, "every row readable on the new broker"
        finally:
            if other is not None:
                await other.stop()
            await relay.stop()
            own.stop()
            await svc.close()
