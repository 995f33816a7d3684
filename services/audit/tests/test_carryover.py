"""Carrying the audit chain over from the gateway's database (where it lived before the
audit service): a chain built in the old gateway schema is copied with every hash
unchanged, verifies, and new entries continue it; webhooks come along with their
secrets still readable; a second run changes nothing; a foreign chain is never merged."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import zhanli_audit
from zhanli_audit.audit import chain
from zhanli_audit.audit import service as audit_service
from zhanli_audit.audit.models import AuditEntry
from zhanli_audit.carryover import CarryError, carry
from zhanli_audit.main import create_app
from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks import service as webhook_service
from zhanli_audit.webhooks.models import WebhookDelivery, WebhookSubscription
from zhanli_shared.audit import build
from zhanli_shared.crypto import FieldCipher, KeyRing
from zhanli_shared.db import TZDateTime, create_engine, ensure_schema, session_factory
from zhanli_shared.migrations import upgrade
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import running_service, service_settings

MIGRATIONS = Path(zhanli_audit.__file__).parent / "migrations"
ROOT = Path(__file__).resolve().parents[3]
ENTRIES = 25

# --- the gateway's schema as its migrations 4e4b65a11ee0 and 843ed2f0e6d2 made it ---------
OLD = sa.MetaData()
_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_AUDIT = sa.Table(
    "audit_log",
    OLD,
    sa.Column("sequence", _Seq, primary_key=True, autoincrement=False),
    sa.Column("audit_id", sa.String(64), nullable=False, unique=True),
    sa.Column("occurred_at", TZDateTime(), nullable=False, index=True),
    sa.Column("recorded_at", TZDateTime(), nullable=False),
    sa.Column("actor_id", sa.String(200), nullable=False),
    sa.Column("actor_kind", sa.String(32), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("entity_type", sa.String(64), nullable=False),
    sa.Column("entity_id", sa.String(200), nullable=False),
    sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("source_ip", sa.String(64), nullable=True),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
OLD_SUBS = sa.Table(
    "webhook_subscriptions",
    OLD,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("event_types", sa.JSON(), nullable=False),
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("secret_enc", sa.Text(), nullable=False),
    sa.Column("previous_secret_enc", sa.Text(), nullable=True),
    sa.Column("previous_secret_expires_at", TZDateTime(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", TZDateTime(), nullable=False),
    sa.Column("updated_at", TZDateTime(), nullable=False),
    sa.Column("deleted_at", TZDateTime(), nullable=True),
)
OLD_DELIVERIES = sa.Table(
    "webhook_deliveries",
    OLD,
    sa.Column("id", _Seq, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("event", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("manual_retries", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", TZDateTime(), nullable=True),
    sa.Column("last_attempt_at", TZDateTime(), nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("delivered_at", TZDateTime(), nullable=True),
    sa.Column("created_at", TZDateTime(), nullable=False),
    sa.UniqueConstraint("subscription_id", "event_id"),
)


@dataclass
class OldGateway:
    engine: AsyncEngine
    target: DatabaseTarget
    hashes: list[str]
    subscription_id: str
    secret: str


CST = dt.timezone(dt.timedelta(hours=8))


def old_entry(sequence: int, prev_hash: str) -> dict[str, Any]:
    """One row as the gateway's appender wrote it (same fields, same hash)."""
    fact = build(
        actor="admin" if sequence % 3 else "crm",
        action=("directory.employee.updated", "sales.payment.recorded", "auth.login.failed")[
            sequence % 3
        ],
        entity_type="employee",
        entity_id=f"E{sequence:04d}",
        before=None if sequence % 2 else {"name": "王小明", "level": sequence},
        after={"name": "王小明 Wang", "amount": f"{sequence}.10", "nested": {"b": [1, "二"]}},
        service="gateway",
        request_id=f"rid-{sequence}",
        source_ip="10.0.0.1",
        occurred_at=dt.datetime(2026, 11, 23, 9, 0, sequence, 123456, tzinfo=CST),
    )
    values = fact.model_dump(mode="python")
    values.update(
        sequence=sequence,
        recorded_at=dt.datetime(2026, 11, 23, 1, 0, sequence, 654321, tzinfo=dt.UTC),
        prev_hash=prev_hash,
    )
    values["roles"] = sorted(values["roles"])
    values["hash"] = chain.entry_hash(values)
    return values


@pytest.fixture
async def old_gateway(db_backend: str, tmp_path: Path) -> AsyncIterator[OldGateway]:
    target = DatabaseTarget(db_backend, tmp_path, "gateway")
    engine = create_engine(target.url, schema=target.schema)
    await ensure_schema(engine, target.schema)
    async with engine.begin() as conn:
        await conn.run_sync(OLD.create_all)
    rows, prev = [], chain.GENESIS
    for sequence in range(1, ENTRIES + 1):
        row = old_entry(sequence, prev)
        rows.append(row)
        prev = row["hash"]
    keys = KeyRing.parse(KEYS)
    cipher = FieldCipher(keys)
    sub_id, secret = str(uuid.uuid4()), "whsec_carried-secret"
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(OLD_AUDIT.insert(), rows)
        await conn.execute(
            OLD_SUBS.insert(),
            {
                "id": sub_id,
                "name": "销售群 carried",
                "url": "https://hooks.example.com/x",
                "event_types": ["zhanli.sales.*"],
                "format": "cloudevents",
                "active": True,
                "secret_enc": cipher.encrypt(
                    secret, context=f"gateway:webhook_subscriptions:{sub_id}:secret"
                ),
                "previous_secret_enc": None,
                "previous_secret_expires_at": None,
                "created_by": "admin",
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
            },
        )
        await conn.execute(
            OLD_DELIVERIES.insert(),
            [
                {
                    "id": i,
                    "subscription_id": sub_id,
                    "event_id": f"ev-{i}",
                    "event_type": "zhanli.sales.deal_recorded.v1",
                    "event": {"id": f"ev-{i}", "type": "zhanli.sales.deal_recorded.v1"},
                    "state": state,
                    "attempts": 1,
                    "manual_retries": 0,
                    "next_attempt_at": None,
                    "last_attempt_at": now,
                    "last_status_code": 200 if state == "delivered" else 500,
                    "last_error": None if state == "delivered" else "HTTP 500",
                    "delivered_at": now if state == "delivered" else None,
                    "created_at": now,
                }
                for i, state in ((7, "delivered"), (41, "failed"))
            ],
        )
    yield OldGateway(engine, target, [r["hash"] for r in rows], sub_id, secret)
    await engine.dispose()
    await target.cleanup()


KEYS = KeyRing.generate("carry1").to_text()


@pytest.fixture
async def audit_target(db_backend: str, tmp_path: Path, broker, keypair):
    target = DatabaseTarget(db_backend, tmp_path, "audit")
    settings = service_settings(
        AuditSettings, target, broker, keypair[1], data_keys=KEYS, webhook_dispatcher_enabled=False
    )
    await asyncio.to_thread(upgrade, settings, MIGRATIONS)
    engine = create_engine(target.url, schema=target.schema)
    yield settings, engine, target
    await engine.dispose()
    await target.cleanup()


async def test_the_carried_chain_verifies_with_every_hash_unchanged_and_continues(
    old_gateway: OldGateway, audit_target, issuer
) -> None:
    settings, engine, _ = audit_target
    report = await carry(old_gateway.engine, engine)
    assert report.found and report.entries == ENTRIES and not report.already_carried
    assert report.subscriptions == 1 and report.deliveries == 2
    assert report.source_verified == {
        "ok": True,
        "checked": ENTRIES,
        "first_bad_sequence": None,
        "fault": None,
    }
    assert report.verified == {
        "ok": True,
        "checked": ENTRIES,
        "first_bad_sequence": None,
        "fault": None,
    }
    sessions = session_factory(engine)
    async with sessions() as session:
        carried = (
            (await session.execute(sa.select(AuditEntry).order_by(AuditEntry.sequence)))
            .scalars()
            .all()
        )
        assert [e.hash for e in carried] == old_gateway.hashes
        assert [e.sequence for e in carried] == list(range(1, ENTRIES + 1))
        assert carried[3].after == {
            "name": "王小明 Wang",
            "amount": "4.10",
            "nested": {"b": [1, "二"]},
        }
        assert carried[0].occurred_at == dt.datetime(2026, 11, 23, 9, 0, 1, 123456, tzinfo=CST)

    # Run again (what make run's marker spares): nothing changes, nothing is duplicated.
    again = await carry(old_gateway.engine, engine)
    assert again.already_carried and again.entries == 0
    assert again.subscriptions == 0 and again.deliveries == 0

    # The service starts on the carried chain: new facts continue it, verify still passes.
    # (The broker is shared by this module's runs: facts of the other backend's run may be
    # appended too; this one is found by its own entity id.)
    mine = f"T-{uuid.uuid4().hex[:8]}"
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        await svc.publish(
            build(
                actor="admin",
                action="test.after_carry",
                entity_type="thing",
                entity_id=mine,
                before=None,
                after={"ok": True},
                service="people",
            )
        )

        async def appended() -> AuditEntry | None:
            async with svc.runtime.sessions() as session:
                return (
                    await session.execute(sa.select(AuditEntry).where(AuditEntry.entity_id == mine))
                ).scalar_one_or_none()

        new = await eventually(appended, timeout_s=30)
        assert new.sequence > ENTRIES
        async with svc.runtime.sessions() as session:
            first_new = await session.get(AuditEntry, ENTRIES + 1)
            assert first_new is not None and first_new.prev_hash == old_gateway.hashes[-1]
        r = await svc.client.get("/api/v1/audit/verify", headers=svc.auth("IT1", ["it_ops"]))
        verified = r.json()
        assert verified["ok"] is True and verified["checked"] >= new.sequence

        # Webhooks: the subscription's secret still opens; delivery ids go on after 41.
        async with svc.runtime.sessions() as session:
            sub = await session.get(WebhookSubscription, old_gateway.subscription_id)
            assert sub is not None
            secrets = webhook_service.signing_secrets(svc.runtime.cipher, sub, sub.updated_at)
            assert secrets == [old_gateway.secret]
        listed = await svc.client.get(
            f"/api/v1/webhooks/subscriptions/{old_gateway.subscription_id}/deliveries",
            headers=svc.auth("HR1", ["hr_admin"]),
        )
        assert [d["id"] for d in listed.json()["items"]] == [41, 7]
        async with svc.runtime.sessions() as session:
            fresh = WebhookDelivery(
                subscription_id=old_gateway.subscription_id,
                event_id="ev-new",
                event_type="zhanli.sales.deal_recorded.v1",
                event={},
                state="cancelled",
                attempts=0,
                manual_retries=0,
                created_at=dt.datetime.now(dt.UTC),
            )
            session.add(fresh)
            await session.commit()
            assert fresh.id > 41


async def test_a_chain_of_another_origin_is_never_merged(
    old_gateway: OldGateway, audit_target
) -> None:
    _, engine, _ = audit_target
    sessions = session_factory(engine)
    async with sessions() as session:
        fact = build(
            actor="x",
            action="own.entry",
            entity_type="t",
            entity_id="1",
            before=None,
            after=None,
            service="people",
        )
        await audit_service.append(session, fact)
        await session.commit()
    with pytest.raises(CarryError, match="not the gateway's chain"):
        await carry(old_gateway.engine, engine)
    async with sessions() as session:  # nothing was copied (one transaction)
        count = (await session.execute(sa.select(sa.func.count()).select_from(AuditEntry))).scalar()
    assert count == 1


async def test_the_command_line_carries_once_and_says_so(
    old_gateway: OldGateway, audit_target
) -> None:
    _, engine, target = audit_target
    env = {
        **os.environ,
        **target.env("ZHANLI_AUDIT_"),
        "ZHANLI_DATA_KEYS": KEYS,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "shared" / "src"), str(ROOT / "services" / "audit" / "src")]
        ),
    }
    argv = [sys.executable, "-m", "zhanli_audit", "import-from-gateway"]
    argv += ["--url", old_gateway.target.url]
    if old_gateway.target.schema:
        argv += ["--schema", old_gateway.target.schema]
    first = await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{ENTRIES} audit entries carried" in first.stdout and "'ok': True" in first.stdout
    second = await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "the chain was carried before" in second.stdout
    result = await audit_service.verify(session_factory(engine))
    assert result == {"ok": True, "checked": ENTRIES, "first_bad_sequence": None, "fault": None}
