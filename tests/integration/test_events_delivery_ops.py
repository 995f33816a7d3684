"""What the relay does with what it cannot send, and the housekeeping around it: rows the
broker refuses are counted, parked and reported without blocking other keys; an operator
retries or discards them; sent outbox rows and old inbox rows are purged; on PostgreSQL a
leader that lost its lock's connection steps down.

Every test runs on SQLite and (with TEST_DATABASE_URL) on PostgreSQL, on its own rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import insert, select, text
from zl_evkit import Svc, new_contract, open_service, read_topic

from zhanli_shared.db import utcnow
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import ensure_topics
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.events.outbox_admin import (
    discard_parked,
    outbox_command,
    retry_parked,
    summary,
)
from zhanli_shared.events.relay import (
    OutboxRelay,
    purge_event_tables,
    read_unsent,
    unsent_rows_query,
)
from zhanli_shared.runtime import Runtime, health_router
from zhanli_shared.testing.plugin import DatabaseTarget, eventually, postgres_url


def _relay(svc: Svc, **overrides: Any) -> OutboxRelay:
    settings = svc.settings.model_copy(
        update={"relay_max_attempts": 3, "relay_retry_backoff_s": 0.01, **overrides}
    )
    return OutboxRelay(settings, svc.engine, svc.sessions, svc.tables)


async def _outbox_rows(svc: Svc, ids: list[int]) -> dict[int, Any]:
    outbox = svc.tables.outbox
    rows = await svc.rows(select(outbox).where(outbox.c.id.in_(ids)))
    return {r.id: r for r in rows}


async def _insert_raw(svc: Svc, topic: str, key: str, payload: str) -> int:
    async with svc.sessions() as session:
        result = await session.execute(
            insert(svc.tables.outbox).values(
                event_id=str(uuid.uuid4()),
                topic=topic,
                key=key,
                payload=payload,
                created_at=utcnow(),
            )
        )
        await session.commit()
    return int(result.inserted_primary_key[0])


async def _publish_one(svc: Svc, event: Any) -> tuple[int, str]:
    (envelope,) = await svc.publish(event)
    outbox = svc.tables.outbox
    row_id = await svc.scalar(select(outbox.c.id).where(outbox.c.event_id == envelope.id))
    return int(row_id), envelope.id


async def test_refused_rows_are_parked_reported_and_only_their_key_waits(
    svc: Svc, broker, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    good = new_contract("good")
    missing = new_contract("missing")  # its topic is not created (yet)
    await ensure_topics(svc.settings, [good.topic_name()])
    service = svc.settings.service_name

    ids: dict[str, int] = {}
    ids["a1"], _ = await _publish_one(svc, good(item_id="k1", seq=1))
    ids["m1"], m1_event = await _publish_one(svc, missing(item_id="k1", seq=2))
    # too large for any broker's default limit (1 MB)
    big = '{"specversion":"1.0","padding":"' + "x" * 1_200_000 + '"}'
    ids["big"] = await _insert_raw(svc, good.topic_name(), "k3", big)
    ids["m2"], m2_event = await _publish_one(svc, missing(item_id="k1", seq=3))  # behind m1
    ids["b3"], b3_event = await _publish_one(svc, good(item_id="k3", seq=4))  # behind big
    ids["g2"], _ = await _publish_one(svc, good(item_id="k2", seq=5))  # another key: flows

    relay = _relay(svc)
    await relay.start()
    try:
        await eventually(
            lambda: _parked_ids(svc, list(ids.values()), {ids["m1"], ids["big"]}), 30, 0.05
        )
        rows = await _outbox_rows(svc, list(ids.values()))
        assert rows[ids["a1"]].sent_at is not None and rows[ids["g2"]].sent_at is not None
        for name in ("m1", "big"):
            assert rows[ids[name]].attempts == 3, "bounded attempts"
            assert rows[ids[name]].sent_at is None
        assert "topic" in rows[ids["m1"]].last_error.lower()
        assert "MessageSizeTooLarge" in rows[ids["big"]].last_error
        for name in ("m2", "b3"):  # held behind the parked row of their topic and key
            assert rows[ids[name]].sent_at is None and rows[ids[name]].parked_at is None
            assert rows[ids[name]].attempts == 0
        assert (
            REGISTRY.get_sample_value("zhanli_outbox_parked_total", {"service": service}) or 0
        ) >= 2
        assert REGISTRY.get_sample_value("zhanli_outbox_parked_rows", {"service": service}) >= 2
        s = await summary(svc.sessions, svc.tables)
        assert (s.parked, s.held) >= (2, 2)

        # readiness: degraded (still 200), with the detail
        app = FastAPI()
        app.include_router(health_router())
        app.state.runtime = Runtime(
            settings=svc.settings,
            engine=svc.engine,
            sessions=svc.sessions,
            tables=svc.tables,
            publisher=Publisher(svc.tables, source="zt"),
            verifier=None,
            relay=relay,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://zt"
        ) as client:
            ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert "parked" in ready.json()["checks"]["outbox"]

        # the operator's command lists them
        code = await asyncio.to_thread(outbox_command, svc.settings, ["list"], "zt")
        listed = capsys.readouterr().out
        assert code == 0
        assert str(ids["m1"]) in listed and str(ids["big"]) in listed
        assert "parked" in listed

        # the missing topic is created and m1 retried: m1 then m2 go out, in order
        await ensure_topics(svc.settings, [missing.topic_name()])
        assert await retry_parked(svc.sessions, svc.tables, [ids["m1"]]) == 1
        relay.wake()
        await eventually(lambda: _sent(svc, [ids["m1"], ids["m2"]]), 20)
        records = await read_topic(broker.bootstrap, missing.topic_name())
        assert [CloudEvent.from_json(r.value).id for r in records] == [m1_event, m2_event]

        # the oversize row is discarded (and returned to the operator): its key flows again
        gone = await discard_parked(svc.sessions, svc.tables, [ids["big"]])
        assert [r["id"] for r in gone] == [ids["big"]]
        relay.wake()
        await eventually(lambda: _sent(svc, [ids["b3"]]), 20)
        assert ids["big"] not in await _outbox_rows(svc, [ids["big"]])
        good_ids = [
            CloudEvent.from_json(r.value).id
            for r in await read_topic(broker.bootstrap, good.topic_name())
        ]
        assert b3_event in good_ids
    finally:
        await relay.stop()


async def _parked_ids(svc: Svc, ids: list[int], expected: set[int]) -> bool:
    rows = await _outbox_rows(svc, ids)
    return {i for i, r in rows.items() if r.parked_at is not None} == expected


async def _sent(svc: Svc, ids: list[int]) -> bool:
    rows = await _outbox_rows(svc, ids)
    return len(rows) == len(ids) and all(r.sent_at is not None for r in rows.values())


async def test_the_next_rows_leave_out_only_what_waits_behind_a_parked_row(
    offline_svc: Svc,
) -> None:
    """``read_unsent`` (two steps) picks what the one-statement query picks: the rows after a
    parked row of the same topic and key wait; other keys, other topics, rows without a key
    and the rows before the parked one do not."""
    svc = offline_svc
    outbox = svc.tables.outbox
    topic, other = f"zt.next.{uuid.uuid4().hex[:6]}", f"zt.other.{uuid.uuid4().hex[:6]}"

    async def row(topic: str, key: str | None, **values: Any) -> int:
        async with svc.sessions() as session:
            result = await session.execute(
                insert(outbox).values(
                    event_id=str(uuid.uuid4()),
                    topic=topic,
                    key=key,
                    payload="{}",
                    created_at=utcnow(),
                    **values,
                )
            )
            await session.commit()
        return int(result.inserted_primary_key[0])

    before = await row(topic, "k1")
    parked = await row(topic, "k1", parked_at=utcnow(), attempts=5)
    waits = await row(topic, "k1")
    flows = [
        before,
        await row(topic, "k2"),
        await row(topic, None),
        await row(other, "k1"),
    ]
    after = await row(topic, None)
    mine = {before, parked, waits, *flows, after}
    async with svc.sessions() as session:
        picked = {r.id for r in await read_unsent(session, outbox, 10_000)} & mine
        one_statement = {
            r.id for r in (await session.execute(unsent_rows_query(outbox, 10_000))).all()
        } & mine
    assert picked == {*flows, after}
    assert picked == one_statement


async def test_purge_keeps_unsent_parked_recent_and_what_dedupe_needs(offline_svc: Svc) -> None:
    svc = offline_svc
    outbox, inbox = svc.tables.outbox, svc.tables.inbox
    settings = svc.settings.model_copy(
        update={"outbox_sent_retention_s": 3 * 86400, "inbox_retention_s": 2 * 86400}
    )
    now = utcnow()
    old, recent = now - dt.timedelta(days=10), now - dt.timedelta(hours=1)

    async def row(tag: str, **values: Any) -> int:
        async with svc.sessions() as session:
            result = await session.execute(
                insert(outbox).values(
                    event_id=f"{tag}-{uuid.uuid4()}",
                    topic="zt.purge",
                    key=tag,
                    payload="{}",
                    created_at=old,
                    **values,
                )
            )
            await session.commit()
        return int(result.inserted_primary_key[0])

    ids = {
        "sent_old": await row("sent_old", sent_at=old, sent_epoch="e"),
        "sent_recent": await row("sent_recent", sent_at=recent, sent_epoch="e"),
        "unsent_old": await row("unsent_old"),
        "parked_old": await row("parked_old", parked_at=old, attempts=5),
    }
    consumer = f"zt-{uuid.uuid4().hex[:8]}"
    ages = {
        "seen_10d": now - dt.timedelta(days=10),
        # older than inbox_retention_s (2 d) but within outbox retention + a day (4 d):
        # the relay may still send that event again, so dedupe still needs it
        "seen_3d": now - dt.timedelta(days=3, hours=12),
        "seen_1h": recent,
    }
    async with svc.sessions() as session:
        for name, at in ages.items():
            await session.execute(
                insert(inbox).values(consumer=consumer, event_id=name, topic="t", processed_at=at)
            )
        await session.commit()

    await purge_event_tables(svc.sessions, svc.tables, settings, now=now, chunk=1)

    left = await _outbox_rows(svc, list(ids.values()))
    assert {name for name, i in ids.items() if i in left} == {
        "sent_recent",
        "unsent_old",
        "parked_old",
    }
    seen = set(await svc.rows(select(inbox.c.event_id).where(inbox.c.consumer == consumer)))
    assert {r.event_id for r in seen} == {"seen_3d", "seen_1h"}


async def test_a_leader_that_lost_its_lock_connection_steps_down(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL only: the leader lock is PostgreSQL's (on SQLite one process runs)."""
    if not postgres_url():
        pytest.skip("needs TEST_DATABASE_URL")
    target = DatabaseTarget("postgres", tmp_path, "leader")
    svc = await open_service(target.url, target.schema, broker.bootstrap)
    try:
        await _leader_steps_down(svc, broker)
    finally:
        await svc.close()
        await target.cleanup()


async def _leader_steps_down(svc: Svc, broker: Any) -> None:
    contract = new_contract("leader")
    await ensure_topics(svc.settings, [contract.topic_name()])
    first, second = _relay(svc), _relay(svc)
    await first.start()
    await eventually(lambda: first.leader, 30)
    await second.start()
    try:
        await svc.publish(contract(item_id="l", seq=1))
        first.wake()
        await eventually(lambda: first.sent_total == 1, 30)
        assert not second.leader and second.sent_total == 0

        key = first._lock_key()
        both_published = False
        relays = (first, second)
        sent_before = {id(r): r.sent_total for r in relays}

        async def watch() -> None:
            nonlocal both_published
            while True:  # never two relays publishing: at most one sends after the cut
                if all(r.sent_total > sent_before[id(r)] for r in relays):
                    both_published = True
                await asyncio.sleep(0.005)

        async with svc.engine.connect() as conn:
            pid = (
                await conn.execute(
                    text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid = 0 AND objid = :k"
                    ),
                    {"k": key},
                )
            ).scalar()
            assert pid is not None
            watcher = asyncio.create_task(watch())
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
        # the leader notices before its next batch; then one of the two leads again (the
        # first may win the lock back: either is right, never both)
        await eventually(lambda: first.step_downs == 1, 30)
        await eventually(lambda: first.leader != second.leader, 30)
        envelopes = await svc.publish(*(contract(item_id="l", seq=i) for i in range(2, 12)))
        first.wake()
        second.wake()
        await eventually(lambda: first.sent_total + second.sent_total >= 11, 30)
        watcher.cancel()
        assert not both_published
        assert first.leader != second.leader
        async with svc.engine.connect() as conn:
            holders = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid = 0 AND objid = :k"
                    ),
                    {"k": key},
                )
            ).scalar()
        assert holders == 1
        records = await read_topic(broker.bootstrap, contract.topic_name())
        got = [CloudEvent.from_json(r.value).id for r in records]
        assert {e.id for e in envelopes} <= set(got)
    finally:
        await second.stop()
        await first.stop()


async def test_relays_of_one_service_in_two_schemas_both_lead(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL only: the leader lock is one per outbox (service and schema). Keyed by the
    service alone, the second install's relay waited for the first one's process to end."""
    if not postgres_url():
        pytest.skip("needs TEST_DATABASE_URL")
    name = f"twin{uuid.uuid4().hex[:8]}"
    targets = [DatabaseTarget("postgres", tmp_path, f"twin{i}") for i in range(2)]
    services = [
        await open_service(t.url, t.schema, broker.bootstrap, service_name=name) for t in targets
    ]
    relays = [_relay(svc) for svc in services]
    try:
        assert relays[0]._lock_key() != relays[1]._lock_key()
        for relay in relays:
            await relay.start()
        await eventually(lambda: all(r.leader for r in relays), 30)
        contract = new_contract("twin")
        await ensure_topics(services[0].settings, [contract.topic_name()])
        for i, svc in enumerate(services):
            await svc.publish(contract(item_id=f"twin-{i}", seq=1))
        for relay in relays:
            relay.wake()
        await eventually(lambda: all(r.sent_total >= 1 for r in relays), 30)
    finally:
        for relay in relays:
            await relay.stop()
        for svc, target in zip(services, targets, strict=True):
            await svc.close()
            await target.cleanup()
