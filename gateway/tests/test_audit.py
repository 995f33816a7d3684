"""The audit log: facts from every write, appended once to a hash chain that verify checks;
searchable and exportable by auditors only; login attempts and 403s recorded by the gateway."""

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

import zhanli_gateway
from zhanli_gateway.audit import chain
from zhanli_gateway.audit import service as audit_service
from zhanli_gateway.audit.models import AuditEntry
from zhanli_gateway.audit.repository import Filters
from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.audit import build, client_ip, jsonable, record
from zhanli_shared.auth import Principal
from zhanli_shared.db import create_engine, new_metadata, session_factory
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.kafka import make_producer
from zhanli_shared.events.outbox import Publisher, define_event_tables
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import RunningService, running_service, service_settings

ADMIN_PASSWORD = "audit-admin-密码"


@pytest.fixture(scope="module")
async def gateway(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("audit"), "gateway")
    settings = service_settings(
        GatewaySettings,
        target,
        broker,
        keypair[1],
        auth_private_key=SecretStr(keypair[0]),
        bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
        upstreams={},
    )
    async with running_service(
        create_app, settings, Path(zhanli_gateway.__file__).parent / "migrations", issuer
    ) as svc:
        yield svc
    await target.cleanup()


async def admin(gw: RunningService) -> dict[str, str]:
    r = await gw.client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"authorization": "Bearer " + r.json()["access_token"]}


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

    return await eventually(enough, timeout_s=20)


async def test_directory_writes_are_audited_with_before_after_actor_and_request_id(
    gateway,
) -> None:
    h = await admin(gateway)
    unit = f"AU{uuid.uuid4().hex[:6]}"
    for i, name in enumerate(("审计一组", "审计二组")):
        r = await gateway.client.put(
            f"/api/v1/directory/org-units/{unit}",
            headers={**h, "x-request-id": f"rid-unit-{i}"},
            json={"org_unit_id": unit, "name": name, "kind": "team"},
        )
        assert r.status_code == 200, r.text
    created, renamed = await wait_entries(gateway, 2, entity_type="org_unit", entity_id=unit)
    assert created["action"] == "directory.org_unit.created" and created["before"] is None
    assert renamed["action"] == "directory.org_unit.updated"
    assert renamed["before"]["name"] == "审计一组" and renamed["after"]["name"] == "审计二组"
    assert renamed["actor_id"] == "admin" and "hr_admin" in renamed["roles"]
    assert renamed["request_id"] == "rid-unit-1" and renamed["service"] == "gateway"
    assert renamed["source_ip"] == "127.0.0.1"
    assert renamed["sequence"] > created["sequence"]

    person = f"AE{uuid.uuid4().hex[:6]}"
    body = {
        "employee_id": person,
        "name": "钱多多",
        "org_unit_id": unit,
        "job_role": "salesperson",
        "roles": ["salesperson"],
        "phone": "13912345678",
        "id_number": "11010119900307123X",
    }
    for change in ({}, {"job_role": "sales_manager"}):
        r = await gateway.client.put(
            f"/api/v1/directory/employees/{person}", headers=h, json=body | change
        )
        assert r.status_code == 200, r.text
    first, second = await wait_entries(gateway, 2, entity_type="employee", entity_id=person)
    assert first["after"]["phone"] == "changed" and first["after"]["id_number"] == "changed"
    assert second["after"]["phone"] == "unchanged"  # same number sent again
    assert second["before"]["job_role"] == "salesperson"
    assert second["after"]["job_role"] == "sales_manager"
    dumped = json.dumps([first, second], ensure_ascii=False)
    assert "13912345678" not in dumped and "11010119900307123" not in dumped

    r = await gateway.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={
            "username": f"u-{person}".lower(),
            "password": "password-1",
            "employee_id": person,
            "roles": ["sales_manager"],
        },
    )
    assert r.status_code == 201, r.text
    (granted,) = await wait_entries(
        gateway, 1, entity_type="user", action="identity.user.created", actor_id="admin"
    )
    assert granted["after"]["roles"] == ["sales_manager"] and "password" not in json.dumps(granted)


async def test_login_attempts_and_refused_authorisation_are_audited(gateway) -> None:
    bad = await gateway.client.post(
        "/api/v1/auth/token",
        json={"username": "admin", "password": "wrong-guess"},
        headers={"x-request-id": "rid-login-bad"},
    )
    assert bad.status_code == 401
    await admin(gateway)
    failed = await entries(gateway, action="auth.login.failed", entity_id="admin")
    assert failed and failed[-1]["request_id"] == "rid-login-bad"
    assert failed[-1]["source_ip"] == "127.0.0.1" and failed[-1]["actor_kind"] == "anonymous"
    assert "wrong-guess" not in json.dumps(failed)
    assert await entries(gateway, action="auth.login.succeeded", actor_id="admin")

    seller = gateway.auth("S77", ["salesperson"])
    for path in ("/api/v1/audit/entries", "/api/v1/audit/verify", "/api/v1/audit/entries/export"):
        r = await gateway.client.get(path, headers=seller)
        assert r.status_code == 403, path
        assert r.headers["content-type"] == "application/problem+json"
    denied = await entries(gateway, action="authz.denied", actor_id="S77")
    assert len(denied) == 3
    assert denied[0]["entity_id"] == "GET /api/v1/audit/entries"
    assert denied[0]["roles"] == ["salesperson"] and denied[0]["after"]["status"] == 403
    # Executives read the log too; nobody can change it through the API.
    assert (
        await gateway.client.get("/api/v1/audit/verify", headers=gateway.auth("X1", ["executive"]))
    ).status_code == 200
    first = denied[0]["sequence"]
    for method in ("PUT", "PATCH", "DELETE"):
        r = await gateway.client.request(
            method, f"/api/v1/audit/entries/{first}", headers=auditor(gateway)
        )
        assert r.status_code in (404, 405)


async def test_facts_from_services_keep_money_exact_and_pages_follow_the_sequence(
    gateway,
) -> None:
    for i in range(2):  # enough entries of its own to page through, whatever ran before
        await gateway.publish(
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
    await gateway.publish(
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
    (entry,) = await wait_entries(gateway, 1, entity_id=payment)
    assert entry["service"] == "commission" and entry["actor_id"] == "F1"
    assert entry["before"]["deal_collected"] == "0.00"
    assert entry["after"]["amount"] == "100.10" and entry["source_ip"] == "10.1.2.3"

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor is not None else {})
        r = await gateway.client.get(
            "/api/v1/audit/entries", headers=auditor(gateway), params=params
        )
        page = r.json()
        seen += [e["sequence"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 3
    newest = await entries(gateway, order="desc", limit=1)
    assert newest[0]["sequence"] == seen[-1]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert await entries(gateway, since=future) == []
    assert await entries(gateway, until=future, entity_id=payment)
    naive = await gateway.client.get(
        "/api/v1/audit/entries", headers=auditor(gateway), params={"since": "2026-01-01T00:00"}
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "since"


async def test_the_same_fact_delivered_twice_is_appended_once(gateway) -> None:
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

    envelope = Publisher(gateway.runtime.tables, "zhanli/commission").envelope(fact("twice"))
    same_fact_new_envelope = Publisher(gateway.runtime.tables, "zhanli/commission").envelope(
        AuditRecorded.model_validate(envelope.data)
    )
    marker = Publisher(gateway.runtime.tables, "zhanli/commission").envelope(fact("marker"))
    producer = make_producer(gateway.settings)
    await producer.start()
    try:
        key = f"deal:{entity}".encode()
        for env in (envelope, envelope, same_fact_new_envelope, marker):
            await producer.send_and_wait(AuditRecorded.topic_name(), env.to_json(), key=key)
    finally:
        await producer.stop()
    found = await wait_entries(gateway, 2, entity_id=entity)  # same key: one partition, in order
    assert [e["action"] for e in found] == ["twice", "marker"]


async def test_export_streams_csv_and_jsonl(gateway) -> None:
    h = await admin(gateway)
    unit = f"EX{uuid.uuid4().hex[:6]}"
    r = await gateway.client.put(
        f"/api/v1/directory/org-units/{unit}",
        headers=h,
        json={"org_unit_id": unit, "name": "=cmd|' /C calc'!A0", "kind": "team"},
    )
    assert r.status_code == 200
    await wait_entries(gateway, 1, entity_id=unit)
    r = await gateway.client.get(
        "/api/v1/audit/entries/export", headers=auditor(gateway), params={"format": "csv"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == audit_service.CSV_COLUMNS
    assert [int(x["sequence"]) for x in rows] == list(range(1, len(rows) + 1))
    mine = [x for x in rows if x["entity_id"] == unit]
    assert json.loads(mine[0]["after"])["name"].startswith("=cmd")  # JSON cell, inert

    r = await gateway.client.get(
        "/api/v1/audit/entries/export",
        headers=auditor(gateway),
        params={"format": "jsonl", "entity_id": unit},
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 1 and lines[0]["after"]["name"].startswith("=cmd")
    assert len(lines[0]["hash"]) == 64

    # Chunked: one short session per chunk, never the whole log in memory.
    chunks = [c async for c in audit_service.pages(gateway.runtime.sessions, Filters(), chunk=2)]
    assert len(chunks) >= 2 and all(len(c) <= 2 for c in chunks)
    assert audit_service._cell("=1+1") == "'=1+1" and audit_service._cell("-5") == "'-5"


async def test_verify_finds_the_first_tampered_entry(gateway, db_backend: str) -> None:
    h = await admin(gateway)
    unit = f"TP{uuid.uuid4().hex[:6]}"
    r = await gateway.client.put(
        f"/api/v1/directory/org-units/{unit}",
        headers=h,
        json={"org_unit_id": unit, "name": "原名", "kind": "team"},
    )
    assert r.status_code == 200
    (target,) = await wait_entries(gateway, 1, entity_id=unit)
    ok = (await gateway.client.get("/api/v1/audit/verify", headers=auditor(gateway))).json()
    assert ok["ok"] is True and ok["first_bad_sequence"] is None and ok["checked"] >= 1

    seq = target["sequence"]
    forged = target["after"] | {"name": "篡改"}
    tamper = update(AuditEntry).where(AuditEntry.sequence == seq).values(after=forged)
    restore = update(AuditEntry).where(AuditEntry.sequence == seq).values(after=target["after"])
    engine = gateway.runtime.engine
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
        bad = (await gateway.client.get("/api/v1/audit/verify", headers=auditor(gateway))).json()
        assert bad == {"ok": False, "checked": seq - 1, "first_bad_sequence": seq}
    finally:
        async with engine.begin() as conn:
            if db_backend == "postgres":
                await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
            await conn.execute(restore)
            if db_backend == "postgres":
                await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER ALL"))
    again = (await gateway.client.get("/api/v1/audit/verify", headers=auditor(gateway))).json()
    assert again["ok"] is True


async def test_concurrent_appends_keep_one_gapless_chain(gateway) -> None:
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
        async with gateway.runtime.sessions() as session:
            sequence = await audit_service.append(session, fact)
            await session.commit()
            return sequence

    sequences = await asyncio.gather(*(append(f) for f in facts))
    assert len(set(sequences)) == 12 and None not in sequences
    assert await append(facts[0]) is None  # the same fact again: not appended
    result = await audit_service.verify(gateway.runtime.sessions, chunk=5)
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
