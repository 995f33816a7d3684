"""Fault tests of the publishing side: outbox atomicity, the relay, a broker outage.

Every test runs on SQLite and (with TEST_DATABASE_URL) on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from zl_evkit import Svc, new_contract, open_service, read_topic

from zhanli_shared.db import unit_of_work
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import ensure_topics
from zhanli_shared.events.relay import OutboxRelay
from zhanli_shared.testing.broker import TansuBroker
from zhanli_shared.testing.plugin import DatabaseTarget, eventually

# --- 1. outbox atomicity -----------------------------------------------------------------


async def test_rollback_leaves_neither_business_row_nor_event(offline_svc: Svc) -> None:
    svc = offline_svc
    contract = new_contract("atomic_rb")
    outbox = svc.tables.outbox
    async with svc.sessions() as session:
        await session.execute(insert(svc.items).values(item_id="a1", amount=Decimal("10.00")))
        await svc.publisher.publish(session, contract(item_id="a1", seq=1))
        # both are visible inside the transaction ...
        assert (await session.execute(select(outbox.c.id))).all()
        await session.rollback()
    # ... and neither outside it after the rollback
    assert await svc.count(svc.items) == 0
    assert await svc.count(outbox) == 0


async def test_failure_at_the_edge_rolls_back_both(offline_svc: Svc) -> None:
    """unit_of_work (the request/consumer edge): an exception rolls back business + outbox,
    and after_commit (the relay wake-up) is not called."""
    svc = offline_svc
    contract = new_contract("atomic_edge")
    woken: list[int] = []
    uow = unit_of_work(svc.sessions, after_commit=lambda: woken.append(1))
    session = await uow.__anext__()
    await session.execute(insert(svc.items).values(item_id="e1", amount=Decimal("1.00")))
    await svc.publisher.publish(session, contract(item_id="e1", seq=1))
    with pytest.raises(RuntimeError, match="service failed"):
        await uow.athrow(RuntimeError("service failed"))
    assert await svc.count(svc.items) == 0
    assert await svc.count(svc.tables.outbox) == 0
    assert woken == []


async def test_integrity_error_after_publish_discards_the_event(offline_svc: Svc) -> None:
    """The event was written first, the business write then fails: no orphan event."""
    svc = offline_svc
    contract = new_contract("atomic_ie")
    async with svc.sessions() as session:
        await session.execute(insert(svc.items).values(item_id="dup", amount=Decimal("1.00")))
        await session.commit()
    async with svc.sessions() as session:
        await svc.publisher.publish(session, contract(item_id="dup", seq=1))
        with pytest.raises(IntegrityError):
            await session.execute(insert(svc.items).values(item_id="dup", amount=Decimal("2.00")))
        await session.rollback()
    assert await svc.count(svc.tables.outbox) == 0
    assert await svc.scalar(select(svc.items.c.amount)) == Decimal("1.00")


async def test_commit_leaves_both(offline_svc: Svc) -> None:
    svc = offline_svc
    contract = new_contract("atomic_ok")
    woken: list[int] = []
    uow = unit_of_work(svc.sessions, after_commit=lambda: woken.append(1))
    session = await uow.__anext__()
    await session.execute(insert(svc.items).values(item_id="c1", amount=Decimal("12.34")))
    event = contract(item_id="c1", seq=7, amount=Decimal("12.34"))
    envelope = await svc.publisher.publish(session, event)
    with pytest.raises(StopAsyncIteration):
        await uow.__anext__()
    assert woken == [1]
    assert await svc.count(svc.items) == 1
    rows = await svc.rows(select(svc.tables.outbox))
    assert len(rows) == 1
    row = rows[0]
    assert row.event_id == envelope.id
    assert row.topic == contract.topic_name()
    assert row.key == "c1"
    assert row.sent_at is None
    assert row.created_at.tzinfo is not None
    stored = CloudEvent.from_json(row.payload)
    assert stored.id == envelope.id
    assert stored.type == contract.topic_name()
    assert stored.subject == "c1"
    assert stored.data == {"item_id": "c1", "seq": 7, "amount": "12.34"}  # money as a string


# --- 2. the relay ------------------------------------------------------------------------


async def _unsent(svc: Svc) -> int:
    return await svc.count(svc.tables.outbox, svc.tables.outbox.c.sent_at.is_(None))


async def test_relay_ships_rows_in_id_order_with_partition_keys(svc: Svc, broker) -> None:  # type: ignore[no-untyped-def]
    contract = new_contract("relay")
    topic = contract.topic_name()
    await ensure_topics(svc.settings, [topic])
    events = [
        contract(item_id=f"k{i % 4}", seq=i, amount=Decimal(i) + Decimal("0.05")) for i in range(20)
    ]
    envelopes = []
    for chunk in (events[:7], events[7:13], events[13:]):  # several transactions
        envelopes += await svc.publish(*chunk)
    outbox = svc.tables.outbox
    id_of = {r.event_id: r.id for r in await svc.rows(select(outbox.c.event_id, outbox.c.id))}

    relay = OutboxRelay(svc.settings, svc.engine, svc.sessions, svc.tables)
    await relay.start()
    try:
        await eventually(lambda: _zero(_unsent(svc)), 10)
    finally:
        await relay.stop()
    assert relay.sent_total == 20
    assert all(r.sent_at is not None for r in await svc.rows(select(outbox.c.sent_at)))

    records = await read_topic(broker.bootstrap, topic)
    assert len(records) == 20, "each row exactly once"
    by_id = {e.id: e for e in envelopes}
    partition_of_key: dict[str, int] = {}
    ids_per_partition: dict[int, list[int]] = defaultdict(list)
    seqs_per_key: dict[str, list[int]] = defaultdict(list)
    for rec in records:
        ce = CloudEvent.from_json(rec.value)
        sent = by_id[ce.id]
        assert ce.type == sent.type == topic
        assert ce.source == sent.source
        assert ce.subject == sent.subject
        assert ce.time == sent.time
        assert ce.data == sent.data
        payload = contract.model_validate(ce.data)
        assert rec.key == payload.item_id.encode(), "key = the aggregate's partition key"
        assert dict(rec.headers)["content-type"] == b"application/cloudevents+json"
        assert partition_of_key.setdefault(payload.item_id, rec.partition) == rec.partition
        ids_per_partition[rec.partition].append(id_of[ce.id])
        seqs_per_key[payload.item_id].append(payload.seq)
    for ids in ids_per_partition.values():
        assert ids == sorted(ids), "a partition carries its rows in outbox id order"
    for seqs in seqs_per_key.values():
        assert seqs == sorted(seqs)
    assert sorted(seqs_per_key) == ["k0", "k1", "k2", "k3"]


def _relay_errors(svc: Svc) -> float:
    value = REGISTRY.get_sample_value(
        "zhanli_relay_errors_total", {"service": svc.settings.service_name}
    )
    return value or 0.0


async def _zero(coro) -> bool:  # type: ignore[no-untyped-def]
    return await coro == 0


async def test_relay_is_woken_promptly_after_a_commit(svc: Svc, broker) -> None:  # type: ignore[no-untyped-def]
    """With a long poll interval, only the wake-up can explain prompt delivery."""
    contract = new_contract("wake")
    await ensure_topics(svc.settings, [contract.topic_name()])
    settings = svc.settings.model_copy(update={"relay_poll_interval_s": 30.0})
    relay = OutboxRelay(settings, svc.engine, svc.sessions, svc.tables)
    real_drain = relay.drain_once
    idle = asyncio.Event()

    async def drain_and_tell() -> int:
        sent = await real_drain()
        if sent == 0:
            idle.set()  # found nothing: from here it sleeps for the poll interval
        return sent

    relay.drain_once = drain_and_tell  # type: ignore[method-assign]
    await relay.start()
    try:
        await asyncio.wait_for(idle.wait(), 30)
        await svc.publish(contract(item_id="w", seq=1))
        relay.wake()
        # Well within the 30 s poll interval: only the wake-up explains it.
        await eventually(lambda: relay.sent_total == 1, 20)
    finally:
        await relay.stop()


async def test_relay_does_not_lose_a_wakeup_during_a_drain(svc: Svc, broker) -> None:  # type: ignore[no-untyped-def]
    """A commit (and its wake-up) that lands while the relay is reading the outbox, after
    its SELECT, must still be shipped promptly, not after the next poll interval."""
    contract = new_contract("wake_race")
    await ensure_topics(svc.settings, [contract.topic_name()])
    settings = svc.settings.model_copy(update={"relay_poll_interval_s": 30.0})
    relay = OutboxRelay(settings, svc.engine, svc.sessions, svc.tables)
    real_drain = relay.drain_once
    raced = asyncio.Event()

    async def drain_then_concurrent_commit() -> int:
        sent = await real_drain()
        if sent == 0 and not raced.is_set():
            raced.set()
            # another request commits an event and wakes the relay right now
            await svc.publish(contract(item_id="r", seq=1))
            relay.wake()
        return sent

    relay.drain_once = drain_then_concurrent_commit  # type: ignore[method-assign]
    await relay.start()
    try:
        await asyncio.wait_for(raced.wait(), 30)
        await eventually(lambda: relay.sent_total == 1, 20)  # not the 30 s poll interval
    finally:
        await relay.stop()


# --- 3. broker outage --------------------------------------------------------------------


async def test_relay_keeps_rows_while_the_broker_is_down_then_delivers_once_in_order(
    db_target: DatabaseTarget,
    tmp_path: Path,
) -> None:
    own = TansuBroker(log_path=tmp_path / "tansu.log").start()
    svc = await open_service(db_target.url, db_target.schema, own.bootstrap)
    relay = OutboxRelay(svc.settings, svc.engine, svc.sessions, svc.tables)
    contract = new_contract("outage")
    topic = contract.topic_name()
    try:
        await ensure_topics(svc.settings, [topic])
        await relay.start()
        (warm,) = await svc.publish(contract(item_id="warm", seq=0))
        relay.wake()
        await eventually(lambda: relay.sent_total == 1, 30)  # the relay holds a live producer

        # the broker dies (a crash: a graceful stop waits ~5 s for connected clients)
        assert own.proc is not None
        own.proc.kill()
        own.proc.wait(5)
        own.stop()
        errors0 = _relay_errors(svc)
        envelopes = []
        for i in range(1, 13):
            envelopes += await svc.publish(contract(item_id=f"o{i % 3}", seq=i))
            relay.wake()
        # the relay tries, fails and backs off (twice, so it has seen these rows)
        await eventually(lambda: _relay_errors(svc) >= errors0 + 2, 60)
        assert await _unsent(svc) == 12, "nothing may be marked sent while the broker is down"
        assert relay._task is not None and not relay._task.done(), "the relay must keep running"

        own.start()  # same port; memory storage: the topics are gone, recreate them
        await ensure_topics(svc.settings, [topic])
        # the relay finds the broker is a new one and sends again what the old one had
        await eventually(lambda: relay.republished_total >= 1, 25, 0.1)
        await eventually(lambda: _zero(_unsent(svc)), 25, 0.1)

        records = await read_topic(own.bootstrap, topic)
        ids = [CloudEvent.from_json(r.value).id for r in records]
        # the new broker has them all, the one the old broker had acknowledged too (it
        # forgot it); rows its epoch check caught late may come twice (inboxes skip them)
        assert set(ids) == {e.id for e in envelopes} | {warm.id}
        first_seen: dict[str, list[int]] = defaultdict(list)
        seen: set[str] = set()
        for r in records:
            data = orjson.loads(r.value)
            assert r.key == data["data"]["item_id"].encode()
            if data["id"] not in seen:
                seen.add(data["id"])
                first_seen[data["data"]["item_id"]].append(data["data"]["seq"])
        assert first_seen == {k: sorted(v) for k, v in first_seen.items()}, "per-key order kept"
    finally:
        await relay.stop()
        own.stop()
        await svc.close()


async def test_relay_does_not_block_writers_while_the_broker_is_down(
    db_target: DatabaseTarget,
    tmp_path: Path,
) -> None:
    """A dead broker must not freeze the service's own database writes (the relay must not
    hold a write transaction open across the Kafka round trip; on SQLite every transaction
    takes the write lock up front)."""
    own = TansuBroker(log_path=tmp_path / "tansu.log").start()
    svc = await open_service(db_target.url, db_target.schema, own.bootstrap)
    relay = OutboxRelay(svc.settings, svc.engine, svc.sessions, svc.tables)
    contract = new_contract("writers")
    try:
        await ensure_topics(svc.settings, [contract.topic_name()])
        await relay.start()
        await svc.publish(contract(item_id="warm", seq=0))
        relay.wake()
        await eventually(lambda: relay.sent_total == 1, 30)
        assert own.proc is not None
        own.proc.kill()
        own.proc.wait(5)
        own.stop()
        drains = asyncio.Event()
        real_drain = relay.drain_once

        async def drain_and_tell() -> int:
            drains.set()
            return await real_drain()

        relay.drain_once = drain_and_tell  # type: ignore[method-assign]
        await svc.publish(contract(item_id="w", seq=1))
        drains.clear()
        relay.wake()
        # A drain that began after that commit: the relay reads the row and then waits for
        # the dead broker (up to the producer's 10 s request timeout).
        await asyncio.wait_for(drains.wait(), 30)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(svc.publish(contract(item_id="w", seq=2)), 30)
        # Not held for the broker's timeout (a generous bound: the machine may be busy).
        assert asyncio.get_running_loop().time() - started < 5.0
    finally:
        await relay.stop()
        own.stop()
        await svc.close()
