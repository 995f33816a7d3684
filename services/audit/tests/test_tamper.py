"""Tampering with the audit log in the raw database (direct SQL, the PostgreSQL trigger
switched off as a superuser would) is named by the verifier: which entry, and how
(missing, reordered, altered); cutting rows off the end or rewriting the whole chain with
fresh hashes is caught by a signed checkpoint kept elsewhere, which anyone can check
offline with the public key."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import zhanli_audit
from zhanli_audit.audit import chain, checkpoints
from zhanli_audit.audit import service as audit_service
from zhanli_audit.audit.models import AuditEntry
from zhanli_audit.settings import AuditSettings
from zhanli_shared.audit import build
from zhanli_shared.auth import generate_rsa_keypair
from zhanli_shared.db import create_engine, session_factory
from zhanli_shared.migrations import upgrade
from zhanli_shared.testing.plugin import DatabaseTarget

MIGRATIONS = Path(zhanli_audit.__file__).parent / "migrations"
N = 8


class Log:
    """A fresh audit database of its own (its chain is all this test's)."""

    def __init__(self, target: DatabaseTarget, engine: AsyncEngine) -> None:
        self.target, self.engine = target, engine
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(engine)

    async def sql(self, *statements: Any) -> None:
        async with self.engine.begin() as conn:
            if self.target.backend == "postgres":  # the append-only trigger: a superuser
                await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
            for statement in statements:
                await conn.execute(text(statement) if isinstance(statement, str) else statement)
            if self.target.backend == "postgres":
                await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER ALL"))

    async def verify(self, pins: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return await audit_service.verify(self.sessions, chunk=3, checkpoints=pins or ())


@pytest.fixture
async def log(db_backend: str, tmp_path: Path) -> AsyncIterator[Log]:
    target = DatabaseTarget(db_backend, tmp_path, "audit")
    settings = AuditSettings(database_url=target.url, database_schema=target.schema)
    await asyncio.to_thread(upgrade, settings, MIGRATIONS)
    engine = create_engine(target.url, schema=target.schema)
    log = Log(target, engine)
    for i in range(N):
        fact = build(
            actor="HR1",
            action="commission.payment.recorded",
            entity_type="payment",
            entity_id=f"P{i}",
            before=None,
            after={"amount": f"{1000 + i}.00", "备注": "篡改测试"},
            service="commission",
        )
        async with log.sessions() as session:
            await audit_service.append(session, fact)
            await session.commit()
    try:
        yield log
    finally:
        await engine.dispose()
        await target.cleanup()


async def test_an_intact_chain_verifies(log: Log) -> None:
    assert await log.verify() == {
        "ok": True,
        "checked": N,
        "first_bad_sequence": None,
        "fault": None,
    }


async def test_a_changed_row_is_named(log: Log) -> None:
    forged = update(AuditEntry).where(AuditEntry.sequence == 5).values(after={"amount": "1.00"})
    await log.sql(forged)
    result = await log.verify()
    assert result["fault"] == "altered" and result["first_bad_sequence"] == 5
    assert result["checked"] == 4 and "entry 5" in result["detail"]


async def test_a_changed_actor_or_time_is_named(log: Log) -> None:
    await log.sql("UPDATE audit_log SET actor_id = 'someone-else' WHERE sequence = 2")
    result = await log.verify()
    assert (result["fault"], result["first_bad_sequence"]) == ("altered", 2)


async def test_a_deleted_row_is_named(log: Log) -> None:
    await log.sql("DELETE FROM audit_log WHERE sequence = 4")
    result = await log.verify()
    assert (result["fault"], result["first_bad_sequence"]) == ("missing", 4)
    assert "4..4" in result["detail"]


async def test_reordered_rows_are_named(log: Log) -> None:
    # Swap entries 3 and 6 (their sequence numbers), as an UPDATE on the raw table would.
    await log.sql(
        "UPDATE audit_log SET sequence = -1 WHERE sequence = 3",
        "UPDATE audit_log SET sequence = 3 WHERE sequence = 6",
        "UPDATE audit_log SET sequence = 6 WHERE sequence = -1",
    )
    result = await log.verify()
    assert (result["fault"], result["first_bad_sequence"]) == ("reordered", 3)


async def test_a_rewritten_chain_or_a_cut_end_needs_the_checkpoint_kept_elsewhere(
    log: Log,
) -> None:
    private, public = generate_rsa_keypair()
    async with log.sessions() as session:
        head = await audit_service.repository.head(session)
    assert head is not None and head[0] == N
    kept = checkpoints.sign(head[0], head[1], private_pem=private, issuer="zhanli-local", kid="k1")
    pins = [checkpoints.verify_signature(json.loads(json.dumps(kept)), public)]
    assert (await log.verify(pins))["ok"] is True

    # Someone with the database rewrites entry 3 and recomputes every hash after it: the
    # chain alone looks intact again, the signed checkpoint does not agree.
    async with log.sessions() as session:
        rows = list(await audit_service.repository.chunk(session, 0, 100))
    prev, statements = chain.GENESIS, []
    for row in rows:
        fields = audit_service.entry_fields(row)
        if row.sequence == 3:
            fields["after"] = {"amount": "0.01"}
        fields["prev_hash"] = prev
        fields["hash"] = chain.entry_hash(fields)
        prev = fields["hash"]
        statements.append(
            update(AuditEntry)
            .where(AuditEntry.sequence == row.sequence)
            .values(after=fields["after"], prev_hash=fields["prev_hash"], hash=fields["hash"])
        )
    await log.sql(*statements)
    assert (await log.verify())["ok"] is True  # without a checkpoint: undetectable
    result = await log.verify(pins)
    assert (result["fault"], result["first_bad_sequence"]) == ("rewritten", N)

    # Cutting the last two entries off: the chain alone is intact, the checkpoint is not.
    await log.sql(f"DELETE FROM audit_log WHERE sequence > {N - 2}")
    assert (await log.verify())["ok"] is True
    result = await log.verify(pins)
    assert (result["fault"], result["first_bad_sequence"]) == ("truncated", N - 1)


def test_a_checkpoint_verifies_offline_with_the_public_key_only(tmp_path: Path) -> None:
    private, public = generate_rsa_keypair()
    _, stranger = generate_rsa_keypair()
    fields: dict[str, Any] = {}
    lines, prev = [], chain.GENESIS
    for seq in range(1, 4):
        import datetime as dt

        fields = {
            "sequence": seq,
            "audit_id": uuid.uuid4().hex,
            "occurred_at": dt.datetime(2026, 12, 5, 10, seq, tzinfo=dt.UTC),
            "recorded_at": dt.datetime(2026, 12, 5, 10, seq, 1, tzinfo=dt.UTC),
            "actor_id": "HR1",
            "actor_kind": "user",
            "roles": ["hr_admin"],
            "action": "directory.employee.updated",
            "entity_type": "employee",
            "entity_id": f"E{seq}",
            "before": None,
            "after": {"name": "changed"},
            "request_id": None,
            "source_ip": "10.0.0.1",
            "service": "people",
            "prev_hash": prev,
        }
        fields["hash"] = prev = chain.entry_hash(fields)
        doc = {**fields}
        for name in ("occurred_at", "recorded_at"):
            doc[name] = chain._time(doc[name])
        lines.append(json.dumps(doc, ensure_ascii=False, sort_keys=True))
    export = tmp_path / "audit.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    signed = checkpoints.sign(3, prev, private_pem=private, issuer="zhanli-local", kid="k1")
    cp = tmp_path / "checkpoint.json"
    cp.write_text(json.dumps(signed))
    pub, other = tmp_path / "public.pem", tmp_path / "other.pem"
    pub.write_text(public)
    other.write_text(stranger)

    assert checkpoints.cli([str(cp), "--public-key", str(pub)]) == 0
    assert checkpoints.cli([str(cp), "--public-key", str(pub), "--export", str(export)]) == 0
    assert checkpoints.cli([str(cp), "--public-key", str(other)]) == 2  # not our key
    lied = tmp_path / "lied.json"
    lied.write_text(json.dumps({**signed, "sequence": 2}))  # a field that was not signed
    assert checkpoints.cli([str(lied), "--public-key", str(pub)]) == 2
    edited = export.read_text(encoding="utf-8").replace('"E2"', '"E9"')
    export.write_text(edited, encoding="utf-8")
    assert checkpoints.cli([str(cp), "--public-key", str(pub), "--export", str(export)]) == 1


async def test_the_api_signs_a_checkpoint_and_verifies_against_it(
    db_backend: str, broker, keypair, issuer, tmp_path: Path
) -> None:
    from zhanli_audit.main import create_app
    from zhanli_shared.testing.services import running_service, service_settings

    target = DatabaseTarget(db_backend, tmp_path, "audit")
    settings = service_settings(
        AuditSettings,
        target,
        broker,
        keypair[1],
        webhook_dispatcher_enabled=False,
        consumer_enabled=False,
        auth_private_key=SecretStr(keypair[0]),
    )
    try:
        async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
            ops = svc.auth("IT1", ["it_ops"])
            empty = await svc.client.get("/api/v1/audit/checkpoint", headers=ops)
            assert empty.status_code == 409  # nothing to sign yet
            for i in range(3):
                fact = build(
                    actor="HR1",
                    action="test.checkpoint",
                    entity_type="thing",
                    entity_id=str(i),
                    before=None,
                    after={"i": i},
                    service="test",
                )
                async with svc.runtime.sessions() as session:
                    await audit_service.append(session, fact)
                    await session.commit()
            denied = await svc.client.get(
                "/api/v1/audit/checkpoint", headers=svc.auth("S1", ["salesperson"])
            )
            assert denied.status_code == 403
            r = await svc.client.get("/api/v1/audit/checkpoint", headers=ops)
            assert r.status_code == 200, r.text
            cp = r.json()
            assert cp["sequence"] == 3 and cp["format"] == checkpoints.FORMAT
            checkpoints.verify_signature(cp, keypair[1])  # the platform's public key
            ok = await svc.client.post(
                "/api/v1/audit/verify", json={"checkpoints": [cp]}, headers=ops
            )
            assert ok.json() == {**ok.json(), "ok": True, "checkpoints": 1}
            forged = {**cp, "hash": "0" * 64}
            bad = await svc.client.post(
                "/api/v1/audit/verify", json={"checkpoints": [cp, forged]}, headers=ops
            )
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "checkpoints.1"
    finally:
        await target.cleanup()
