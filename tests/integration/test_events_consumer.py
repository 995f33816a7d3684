"""Fault tests of the consuming side: inbox idempotence, offsets committed after the DB
commit, poison messages and failing handlers to the dead-letter topic.

Joining a consumer group costs ~5 s on Tansu (half aiokafka's session timeout), and a
consumer that dies in Tansu's first group generation leaves a ghost member that holds up
the next join for a session timeout more (~18 s in all). So the module builds one world
per database backend up front: one ConsumerRunner per test case, each in its own group
with its own topic and dead-letter topic, all joining at once; and it starts the two
"consumer dies mid-message" scenarios in the background right away, so their waits
overlap. Every test is still parametrised over ``db_backend`` and uses only its own
runner, topic, group and dead-letter topic.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from sqlalchemy import insert
from zl_evkit import ItemEvent, Svc, header, new_contract, open_service, produce, read_topic

from zhanli_shared.events.consumer import ConsumerRunner, HandlerRegistry
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import dead_letter_topic, ensure_topics
from zhanli_shared.testing.plugin import DatabaseTarget, eventually

CASES = ("dedupe", "poison", "failing", "restart")


@dataclass
class Harness:
    svc: Svc
    contracts: dict[str, type[ItemEvent]]
    groups: dict[str, str]
    runners: dict[str, ConsumerRunner] = field(default_factory=dict)
    registries: dict[str, HandlerRegistry] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    block: bool = False
    blocked: asyncio.Event = field(default_factory=asyncio.Event)

    def topic(self, case: str) -> str:
        return self.contracts[case].topic_name()

    def dlq(self, case: str) -> str:
        return dead_letter_topic(self.groups[case])

    def envelope(self, case: str, item_id: str, seq: int) -> CloudEvent:
        return self.svc.publisher.envelope(self.contracts[case](item_id=item_id, seq=seq))

    async def handler(self, session: Any, payload: ItemEvent, envelope: CloudEvent) -> None:
        self.calls[envelope.id] += 1
        await session.execute(
            insert(self.svc.effects).values(
                event_id=envelope.id,
                topic=envelope.type,
                item_id=payload.item_id,
                seq=payload.seq,
                note=f"attempt {self.calls[envelope.id]}",
            )
        )
        if payload.item_id == "always-fails":
            raise RuntimeError(f"boom: cannot apply {payload.item_id} #{payload.seq}")
        if payload.item_id == "block" and self.block:
            self.blocked.set()
            await asyncio.Event().wait()  # hangs until the consumer is stopped

    def runner(self, case: str) -> ConsumerRunner:
        return ConsumerRunner(
            self.svc.settings,
            self.svc.sessions,
            self.svc.tables,
            self.registries[case],
            group_id=self.groups[case],
        )

    async def effects(self, event_id: str) -> int:
        return await self.svc.count(self.svc.effects, self.svc.effects.c.event_id == event_id)

    async def inbox(self, case: str, event_id: str | None = None) -> int:
        inbox = self.svc.tables.inbox
        where = [inbox.c.consumer == self.groups[case]]
        if event_id is not None:
            where.append(inbox.c.event_id == event_id)
        return await self.svc.count(inbox, *where)

    restart_task: asyncio.Task[dict[str, Any]] | None = None

    async def restart_scenario(self) -> dict[str, Any]:
        """A consumer dies while handling a message; a new one starts in the same group."""
        topic = self.topic("restart")
        first = self.envelope("restart", "r-ok", 1)
        stuck = self.envelope("restart", "block", 2)
        last = self.envelope("restart", "r-ok", 3)
        self.block = True
        sent = await produce(
            self.svc.settings, topic, [e.to_json() for e in (first, stuck, last)], key=b"r"
        )
        await asyncio.wait_for(self.blocked.wait(), 30)
        old = self.runners["restart"]
        # No database reads while `stuck` holds its transaction open: on SQLite every
        # transaction takes the write lock up front (BEGIN IMMEDIATE), so a read would
        # wait for the very transaction this scenario keeps open.
        seen: dict[str, Any] = {"first": first, "stuck": stuck, "last": last}
        assert old._consumer is not None
        seen["committed_while_blocked"] = await old._consumer.committed(
            TopicPartition(topic, sent[1].partition)
        )
        seen["stuck_offset"] = sent[1].offset
        await old.stop()  # the process dies while handling `stuck`
        seen["first_effects_before"] = await self.effects(first.id)
        seen["stuck_effects_after_stop"] = await self.effects(stuck.id)
        seen["stuck_inbox_after_stop"] = await self.inbox("restart", stuck.id)
        self.block = False
        self.runners["restart"] = self.runner("restart")  # resumes from committed offsets
        await self.runners["restart"].start()
        await eventually(lambda: self.effects(last.id), 45, 0.1)
        return seen


def _backends() -> list[str]:
    """The same backends as the plugin's ``db_backend`` parametrisation."""
    return ["sqlite", "postgres"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


async def _build(backend: str, broker, tmp: Path) -> tuple[Harness, DatabaseTarget]:  # type: ignore[no-untyped-def]
    target = DatabaseTarget(backend, tmp, "evc")
    svc = await open_service(target.url, target.schema, broker.bootstrap)
    run = uuid.uuid4().hex[:8]
    h = Harness(
        svc=svc,
        contracts={c: new_contract(f"consume_{c}") for c in CASES},
        groups={c: f"zt-{c}-{backend}-{run}" for c in CASES},
    )
    await ensure_topics(svc.settings, [*(h.topic(c) for c in CASES), *(h.dlq(c) for c in CASES)])
    for case in CASES:
        registry = HandlerRegistry()
        registry.on(h.contracts[case])(h.handler)
        h.registries[case] = registry
        h.runners[case] = h.runner(case)
    return h, target


@pytest.fixture(scope="module")
async def worlds(
    broker,
    tmp_path_factory: pytest.TempPathFactory,  # type: ignore[no-untyped-def]
) -> AsyncIterator[dict[str, Harness]]:
    built: dict[str, tuple[Harness, DatabaseTarget]] = {}
    try:
        for backend in _backends():
            built[backend] = await _build(backend, broker, Path(tmp_path_factory.mktemp("evc")))
        runners = [r for h, _ in built.values() for r in h.runners.values()]
        await asyncio.gather(*(r.start() for r in runners))
        await eventually(lambda: all(r.assignment() for r in runners), 30)
        for h, _ in built.values():
            h.restart_task = asyncio.create_task(h.restart_scenario())
        yield {backend: h for backend, (h, _) in built.items()}
    finally:
        for h, target in built.values():
            if h.restart_task is not None and not h.restart_task.done():
                h.restart_task.cancel()
            for r in h.runners.values():
                await r.stop()
            await h.svc.close()
            await target.cleanup()


@pytest.fixture
def harness(worlds: dict[str, Harness], db_backend: str) -> Harness:
    return worlds[db_backend]


# --- 4. inbox: duplicates change state once; offsets only after the DB commit -------------


async def test_same_envelope_delivered_twice_changes_state_once(harness: Harness) -> None:
    h = harness
    once = h.envelope("dedupe", "d1", 1)
    after = h.envelope("dedupe", "d1", 2)
    raw = once.to_json()
    # the same bytes twice (a producer retry / redelivery), then a marker, on one partition
    await produce(h.svc.settings, h.topic("dedupe"), [raw, raw, after.to_json()], key=b"d1")
    await eventually(lambda: h.effects(after.id), 30)

    assert await h.effects(once.id) == 1
    assert await h.inbox("dedupe", once.id) == 1
    assert await h.inbox("dedupe") == 2
    assert h.calls[once.id] == 1, "the duplicate must not even reach the handler"
    assert h.runners["dedupe"].handled_total == 2
    assert h.runners["dedupe"].dead_lettered_total == 0


# --- 5. poison messages --------------------------------------------------------------------


async def test_poison_messages_go_to_the_dlq_and_the_consumer_goes_on(harness: Harness) -> None:
    h = harness
    topic = h.topic("poison")
    good = h.envelope("poison", "p", 9)
    not_json = b"\xff\xfe this is {not json"
    wrong_type = h.envelope("dedupe", "p", 2).to_json()  # valid event of another topic
    bad_payload = CloudEvent(
        source="zhanli/test", type=topic, data={"item_id": "p", "seq": "not-a-number"}
    ).to_json()
    extra_field = CloudEvent(
        source="zhanli/test", type=topic, data={"item_id": "p", "seq": 3, "smuggled": True}
    ).to_json()
    values = [not_json, wrong_type, bad_payload, extra_field, good.to_json()]
    sent = await produce(h.svc.settings, topic, values, key=b"p")

    await eventually(lambda: h.effects(good.id), 30)
    runner = h.runners["poison"]
    assert runner.handled_total == 1
    assert runner.dead_lettered_total == 4

    dlq = await read_topic(h.svc.settings.kafka_bootstrap_servers, h.dlq("poison"))
    assert [r.value for r in dlq] == values[:4], "the original bytes, in order"
    expected_errors = [
        "not a CloudEvents JSON envelope",
        "does not match topic",
        "does not match contract",
        "does not match contract",
    ]
    for rec, meta, expected in zip(dlq, sent[:4], expected_errors, strict=True):
        assert rec.key == b"p"
        assert header(rec, "zhanli-dlq-original-topic") == topic
        assert header(rec, "zhanli-dlq-original-partition") == str(meta.partition)
        assert header(rec, "zhanli-dlq-original-offset") == str(meta.offset)
        assert header(rec, "zhanli-dlq-consumer") == h.groups["poison"]
        assert header(rec, "zhanli-dlq-attempts") == "0"
        error = header(rec, "zhanli-dlq-error")
        assert error and expected in error, error
    assert "smuggled" in (header(dlq[3], "zhanli-dlq-error") or "")

    # nothing of the poison reached the handler or the inbox
    assert await h.inbox("poison") == 1
    assert await h.svc.count(h.svc.effects, h.svc.effects.c.topic == topic) == 1
    # and the offsets moved past them only once everything was dealt with
    tp = TopicPartition(topic, sent[-1].partition)
    consumer = runner._consumer
    assert consumer is not None
    await eventually(lambda: _committed_is(consumer, tp, sent[-1].offset + 1), 30)


async def _committed_is(consumer: Any, tp: TopicPartition, offset: int) -> bool:
    return await consumer.committed(tp) == offset


# --- 6. a handler that always fails ---------------------------------------------------------


async def test_failing_handler_is_retried_then_dead_lettered_without_its_writes(
    harness: Harness,
) -> None:
    h = harness
    topic = h.topic("failing")
    bad = h.envelope("failing", "always-fails", 1)
    good = h.envelope("failing", "f-ok", 2)
    sent = await produce(h.svc.settings, topic, [bad.to_json(), good.to_json()], key=b"f")

    await eventually(lambda: h.effects(good.id), 30)
    max_attempts = h.svc.settings.consumer_max_attempts
    assert max_attempts == 3
    assert h.calls[bad.id] == max_attempts
    assert h.calls[good.id] == 1

    dlq = await read_topic(h.svc.settings.kafka_bootstrap_servers, h.dlq("failing"))
    assert len(dlq) == 1
    rec = dlq[0]
    assert rec.value == bad.to_json()
    assert header(rec, "zhanli-dlq-original-topic") == topic
    assert header(rec, "zhanli-dlq-original-offset") == str(sent[0].offset)
    assert header(rec, "zhanli-dlq-attempts") == str(max_attempts)
    error = header(rec, "zhanli-dlq-error") or ""
    assert "RuntimeError" in error and "boom: cannot apply always-fails #1" in error

    # none of the failing handler's writes (nor its inbox row) was committed
    assert await h.effects(bad.id) == 0
    assert await h.inbox("failing", bad.id) == 0
    assert await h.inbox("failing", good.id) == 1
    assert h.runners["failing"].dead_lettered_total == 1


# --- 4b. a consumer that dies mid-message: retried after the restart, not skipped ----------


async def test_offsets_are_committed_only_after_the_db_commit(harness: Harness) -> None:
    h = harness
    assert h.restart_task is not None
    seen = await asyncio.wait_for(asyncio.shield(h.restart_task), 60)
    first, stuck, last = seen["first"], seen["stuck"], seen["last"]
    # `first` may share `stuck`'s batch transaction (rolled back with it) or precede it.
    assert seen["first_effects_before"] in (0, 1)
    committed = seen["committed_while_blocked"]
    assert committed is None or committed <= seen["stuck_offset"], (
        "the offset of a message whose transaction has not committed must not be committed"
    )
    assert seen["stuck_effects_after_stop"] == 0, "the interrupted transaction rolled back"
    assert seen["stuck_inbox_after_stop"] == 0

    assert h.calls[stuck.id] == 2, "the interrupted message was delivered again"
    assert await h.effects(stuck.id) == 1
    assert await h.effects(first.id) == 1, "a redelivered, already applied event changes nothing"
    assert await h.effects(last.id) == 1
    assert await h.inbox("restart") == 3
