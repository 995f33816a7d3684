"""The audit log: facts from every write, appended once to a hash chain that verify checks;
searchable and exportable by auditors only; what the gateway saw (sign-ins, refusals)
chained from its events."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import types
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

import zhanli_audit
from zhanli_audit.audit import chain
from zhanli_audit.audit import service as audit_service
from zhanli_audit.audit.models import AuditEntry
from zhanli_audit.audit.repository import Filters
from zhanli_audit.main import create_app
from zhanli_audit.settings import AuditSettings
from zhanli_shared.audit import build, client_ip, jsonable, record
from zhanli_shared.auth import Principal
from zhanli_shared.db import create_engine, new_metadata, session_factory, utcnow
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.events.kafka import make_producer
from zhanli_shared.events.outbox import Publisher, define_event_tables
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import (
    RunningService,
    running_service,
    service_settings,
)

MIGRATIONS = Path(zhanli_audit.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def audit(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("audit"), "audit")
    settings = service_settings(
        AuditSettings,
        target,
        broker,
        keypair[1],
        webhook_dispatcher_enabled=False,
        auth_private_key=SecretStr(keypair[0]),  # signs checkpoints of the chain
    )
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        yield svc
    await target.cleanup()


def auditor(gw: RunningService) -> dict[str, str]:
    return gw.auth("IT1", ["it_ops"])


async def entries(gw: RunningService, **params) -> list[dict]:
    r = await gw.client.get("/api/v1/audit/entries", headers=auditor(gw), params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def wait_entries(gw: RunningService, count: int, **params) -> list[dict]:
    async def enough():
        found = await entries(gw, **params)
        return found if len(found) >= count else None

    return await eventually(enough, timeout_s=60)


def org_unit_fact(unit: str, name: str) -> AuditRecorded:
    """What the directory publishes when an org unit is created."""
    return build(
        actor=Principal(subject="admin", roles=frozenset({"hr_admin"})),
        action="directory.org_unit.created",
        entity_type="org_unit",
        entity_id=unit,
        before=None,
        after={"org_unit_id": unit, "name": name, "kind": "team"},
        service="people",
    )


async def test_health_readiness_metrics_and_problem_json(audit) -> None:
    assert (await audit.client.get("/health/live")).json() == {"status": "ok"}
    ready = await audit.client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert "zhanli_http_requests_total" in audit.metrics_text()
    assert (await audit.client.get("/metrics")).status_code == 404  # its own listener
    missing = await audit.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_sign_ins_and_refusals_the_gateway_saw_are_chained(audit) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    subject = f"S{uuid.uuid4().hex[:6]}"

    def seen(outcome: str, actor: str, kind: str, **extra) -> RequestAudited:
        return RequestAudited(
            audit_id=uuid.uuid4().hex,
            occurred_at=utcnow(),
            outcome=outcome,  # type: ignore[arg-type]
            actor_id=actor,
            actor_kind=kind,
            source_ip="10.0.0.7",
            **extra,
        )

    await audit.publish(
        seen(
            "login_failed",
            user,
            "anonymous",
            method="POST",
            path="/api/v1/auth/token",
            status=401,
            request_id="rid-login-bad",
        )
    )
    await audit.publish(
        seen("login_succeeded", user, "user", method="POST", path="/api/v1/auth/token", status=200)
    )
    await audit.publish(
        seen(
            "denied",
            subject,
            "user",
            roles=["salesperson"],
            method="GET",
            path="/api/v1/audit/entries",
            status=403,
        )
    )
    (failed,) = await wait_entries(audit, 1, action="auth.login.failed", entity_id=user)
    assert failed["request_id"] == "rid-login-bad" and failed["actor_kind"] == "anonymous"
    assert failed["source_ip"] == "10.0.0.7" and failed["service"] == "gateway"
    assert failed["entity_type"] == "user" and failed["after"]["status"] == 401
    assert await wait_entries(audit, 1, action="auth.login.succeeded", actor_id=user)
    (denied,) = await wait_entries(audit, 1, action="authz.denied", actor_id=subject)
    assert denied["entity_id"] == "GET /api/v1/audit/entries"
    assert denied["roles"] == ["salesperson"] and denied["after"]["status"] == 403

    seller = audit.auth("S77", ["salesperson"])
    for path in ("/api/v1/audit/entries", "/api/v1/audit/verify", "/api/v1/audit/entries/export"):
        r = await audit.client.get(path, headers=seller)
        assert r.status_code == 403, path
        assert r.headers["content-type"] == "application/problem+json"
    # Executives read the log too; nobody can change it through the API.
    assert (
        await audit.client.get("/api/v1/audit/verify", headers=audit.auth("X1", ["executive"]))
    ).status_code == 200
    first = denied["sequence"]
    for method in ("PUT", "PATCH", "DELETE"):
        r = await audit.client.request(
            method, f"/api/v1/audit/entries/{first}", headers=auditor(audit)
        )
        assert r.status_code in (404, 405)


async def test_facts_from_services_keep_money_exact_and_pages_follow_the_sequence(
    audit,
) -> None:
    for i in range(2):  # enough entries of its own to page through, whatever ran before
        await audit.publish(
            build(
                actor="SYS",
                action="test.filler",
                entity_type="filler",
                entity_id=f"F-{i}-{uuid.uuid4().hex[:6]}",
                before=None,
                after={"i": i},
                service="commission",
            )
        )
    payment = f"P-{uuid.uuid4().hex[:8]}"
    await audit.publish(
        build(
            actor=Principal(subject="F1", roles=frozenset({"finance"})),
            action="sales.payment.recorded",
            entity_type="payment",
            entity_id=payment,
            before={"deal_id": "D1", "deal_collected": Decimal("0.00")},
            after={
                "deal_id": "D1",
                "amount": Decimal("100.10"),
                "deal_collected": Decimal("100.10"),
            },
            service="commission",
            request_id="rid-pay",
            source_ip="10.1.2.3",
        )
    )
    (entry,) = await wait_entries(audit, 1, entity_id=payment)
    assert entry["service"] == "commission" and entry["actor_id"] == "F1"
    assert entry["before"]["deal_collected"] == "0.00"
    assert entry["after"]["amount"] == "100.10" and entry["source_ip"] == "10.1.2.3"

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor is not None else {})
        r = await audit.client.get("/api/v1/audit/entries", headers=auditor(audit), params=params)
        page = r.json()
        seen += [e["sequence"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 3
    newest = await entries(audit, order="desc", limit=1)
    assert newest[0]["sequence"] == seen[-1]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert await entries(audit, since=future) == []
    assert await entries(audit, until=future, entity_id=payment)
    naive = await audit.client.get(
        "/api/v1/audit/entries", headers=auditor(audit), params={"since": "2026-01-01T00:00"}
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "since"


async def test_the_same_fact_delivered_twice_is_appended_once(audit) -> None:
    entity = f"dup-{uuid.uuid4().hex[:8]}"

    def fact(action: str) -> AuditRecorded:
        return build(
            actor="crm",
            action=action,
            entity_type="deal",
            entity_id=entity,
            before=None,
            after={"amount": "1.00"},
            service="commission",
        )

    envelope = Publisher(audit.runtime.tables, "zhanli/commission").envelope(fact("twice"))
    same_fact_new_envelope = Publisher(audit.runtime.tables, "zhanli/commission").envelope(
        AuditRecorded.model_validate(envelope.data)
    )
    marker = Publisher(audit.runtime.tables, "zhanli/commission").envelope(fact("marker"))
    producer = make_producer(audit.settings)
    await producer.start()
    try:
        key = f"deal:{entity}".encode()
        for env in (envelope, envelope, same_fact_new_envelope, marker):
            await producer.send_and_wait(AuditRecorded.topic_name(), env.to_json(), key=key)
    finally:
        await producer.stop()
    found = await wait_entries(audit, 2, entity_id=entity)  # same key: one partition, in order
    assert [e["action"] for e in found] == ["twice", "marker"]


async def test_export_streams_csv_and_jsonl(audit) -> None:
    unit = f"EX{uuid.uuid4().hex[:6]}"
    await audit.publish(org_unit_fact(unit, "=cmd|' /C calc'!A0"))
    await wait_entries(audit, 1, entity_id=unit)
    r = await audit.client.get(
        "/api/v1/audit/entries/export", headers=auditor(audit), params={"format": "csv"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == audit_service.CSV_COLUMNS
    assert [int(x["sequence"]) for x in rows] == list(range(1, len(rows) + 1))
    mine = [x for x in rows if x["entity_id"] == unit]
    assert json.loads(mine[0]["after"])["name"].startswith("=cmd")  # JSON cell, inert

    r = await audit.client.get(
        "/api/v1/audit/entries/export",
        headers=auditor(audit),
        params={"format": "jsonl", "entity_id": unit},
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 1 and lines[0]["after"]["name"].startswith("=cmd")
    assert len(lines[0]["hash"]) == 64

    # Chunked: one short session per chunk, never the whole log in memory.
    chunks = [c async for c in audit_service.pages(audit.runtime.sessions, Filters(), chunk=2)]
    assert len(chunks) >= 2 and all(len(c) <= 2 for c in chunks)
    assert audit_service._cell("=1+1") == "'=1+1" and audit_service._cell("-5") == "'-5"


async def test_verify_finds_the_first_tampered_entry(audit, db_backend: str) -> None:
    unit = f"TP{uuid.uuid4().hex[:6]}"
    await audit.publish(org_unit_fact(unit, "原名"))
    (target,) = await wait_entries(audit, 1, entity_id=unit)
    ok = (await audit.client.get("/api/v1/audit/verify", headers=auditor(audit))).json()
    assert ok["ok"] is True and ok["first_bad_sequence"] is None and ok["checked"] >= 1

    seq = target["sequence"]
    forged = target["after"] | {"name": "篡改"}
    tamper = update(AuditEntry).where(AuditEntry.sequence == seq).values(after=forged)
    restore = update(AuditEntry).where(AuditEntry.sequence == seq).values(after=target["after"])
    engine = audit.runtime.engine
    if db_backend == "postgres":
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(tamper)
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM audit_log"))
        async with engine.begin() as conn:  # a superuser can still do it: verify catches it
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
            await conn.execute(tamper)
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER ALL"))
    else:
        async with engine.begin() as conn:
            await conn.execute(tamper)
    try:
        bad = (await audit.client.get("/api/v1/audit/verify", headers=auditor(audit))).json()
        assert {k: bad[k] for k in ("ok", "checked", "first_bad_sequence", "fault")} == {
            "ok": False,
            "checked": seq - 1,
            "first_bad_sequence": seq,
            "fault": "altered",
        }
    finally:
        async with engine.begin() as conn:
            if db_backend == "postgres":
                await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
            await conn.execute(restore)
            if db_backend == "postgres":
                await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER ALL"))
    again = (await audit.client.get("/api/v1/audit/verify", headers=auditor(audit))).json()
    assert again["ok"] is True


async def test_concurrent_appends_keep_one_gapless_chain(audit) -> None:
    facts = [
        build(
            actor="system",
            action="test.concurrent",
            entity_type="thing",
            entity_id=str(i),
            before=None,
            after={"i": i},
            service="test",
        )
        for i in range(12)
    ]

    async def append(fact: AuditRecorded) -> int | None:
        async with audit.runtime.sessions() as session:
            sequence = await audit_service.append(session, fact)
            await session.commit()
            return sequence

    sequences = await asyncio.gather(*(append(f) for f in facts))
    assert len(set(sequences)) == 12 and None not in sequences
    assert await append(facts[0]) is None  # the same fact again: not appended
    result = await audit_service.verify(audit.runtime.sessions, chunk=5)
    assert result["ok"] is True and result["checked"] >= max(sequences)  # type: ignore[type-var]


# -- unit tests of the shared recorder and the chain -----------------------------------------


async def test_record_writes_the_fact_to_the_outbox_in_the_callers_transaction(
    tmp_path: Path,
) -> None:
    metadata = new_metadata()
    tables = define_event_tables(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    publisher = Publisher(tables, "zhanli/commission")
    actor = Principal(subject="F1", roles=frozenset({"finance", "hr_admin"}), kind="user")
    async with sessions() as session:
        fact = await record(
            session,
            publisher,
            actor=actor,
            action="sales.payment.recorded",
            entity_type="payment",
            entity_id="P1",
            before={"deal_collected": Decimal("0.00"), "deal_outstanding": Decimal("1000.00")},
            after={
                "amount": Decimal("250.50"),
                "deal_collected": Decimal("250.50"),
                "paid_at": dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            },
            request_id="rid-1",
            source_ip="10.0.0.9",
        )
        await session.rollback()  # rolled back with the change: nothing recorded
        assert (await session.execute(select(tables.outbox.c.id))).first() is None
        await record(
            session,
            publisher,
            actor=actor,
            action="sales.payment.recorded",
            entity_type="payment",
            entity_id="P1",
            before={"deal_collected": Decimal("0.00")},
            after={"deal_collected": Decimal("250.50")},
            request_id="rid-1",
            source_ip="10.0.0.9",
        )
        await session.commit()
    async with sessions() as session:
        (row,) = (await session.execute(select(tables.outbox))).all()
    await engine.dispose()
    assert row.topic == "zhanli.audit.recorded.v1" and row.key == "payment:P1"
    data = json.loads(row.payload)["data"]
    assert data["before"] == {"deal_collected": "0.00"}
    assert data["after"] == {"deal_collected": "250.50"}
    assert data["actor_id"] == "F1" and data["roles"] == ["finance", "hr_admin"]
    assert data["service"] == "commission" and data["request_id"] == "rid-1"
    assert data["source_ip"] == "10.0.0.9" and data["actor_kind"] == "user"
    assert fact.after is not None and fact.after["paid_at"] == "2026-11-20T02:00:00+00:00"


def test_jsonable_keeps_money_exact_and_refuses_floats() -> None:
    assert jsonable({"a": Decimal("1.10"), "b": {1, 2}, "c": dt.date(2026, 1, 2)}) == {
        "a": "1.10",
        "b": [1, 2],
        "c": "2026-01-02",
    }
    with pytest.raises(TypeError):
        jsonable({"a": 1.1})
    with pytest.raises(ValueError):
        jsonable(dt.datetime(2026, 1, 1))


def test_client_ip_takes_the_hop_the_gateway_added() -> None:
    from starlette.datastructures import Headers

    def req(headers: list[tuple[str, str]], host: str = "10.9.9.9"):
        return types.SimpleNamespace(
            headers=Headers(raw=[(k.encode(), v.encode()) for k, v in headers]),
            client=types.SimpleNamespace(host=host),
        )

    # The client's own (spoofable) header comes first; the gateway appends the real peer.
    spoofed = req([("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "192.168.1.20")])
    assert client_ip(spoofed) == "192.168.1.20"
    assert client_ip(req([("x-forwarded-for", "1.1.1.1, 172.16.0.2")])) == "172.16.0.2"
    assert client_ip(req([])) == "10.9.9.9"


def test_chain_hash_is_canonical_and_covers_every_field() -> None:
    t = dt.datetime(2026, 11, 23, 4, 5, 6, tzinfo=dt.UTC)
    fields = {name: None for name in chain.HASHED_FIELDS} | {
        "sequence": 1,
        "occurred_at": t,
        "recorded_at": t.astimezone(dt.timezone(dt.timedelta(hours=8))),
        "roles": ["a"],
        "after": {"b": "1", "a": "中"},
        "prev_hash": chain.GENESIS,
    }
    payload = chain.canonical(fields)
    assert b" " not in payload and "中".encode() in payload
    assert b'"recorded_at":"2026-11-23T04:05:06.000000+00:00"' in payload
    h = chain.entry_hash(fields)
    assert h == chain.entry_hash(fields | {"after": {"a": "中", "b": "1"}})  # key order
    for name in chain.HASHED_FIELDS:
        if name not in ("occurred_at", "recorded_at"):
            assert chain.entry_hash(fields | {name: "x"}) != h, name
