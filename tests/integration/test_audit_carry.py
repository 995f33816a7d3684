"""Upgrading an install whose audit chain and webhooks live in the gateway's database
(before the audit service existed): the gateway's migration refuses to drop a chain that
was not carried; ``import-from-gateway`` carries it with every hash unchanged; then the
gateway's migration drops its old tables and the audit service's verifier passes on the
carried chain, which new entries continue."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

import zhanli_audit
import zhanli_gateway
from zhanli_audit.audit import chain
from zhanli_audit.audit import service as audit_service
from zhanli_audit.audit.models import AuditEntry
from zhanli_audit.carryover import carry
from zhanli_audit.settings import AuditSettings
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.audit import build
from zhanli_shared.db import create_engine, session_factory
from zhanli_shared.migrations import upgrade
from zhanli_shared.testing.plugin import DatabaseTarget

GATEWAY_MIGRATIONS = Path(zhanli_gateway.__file__).parent / "migrations"
AUDIT_MIGRATIONS = Path(zhanli_audit.__file__).parent / "migrations"
BEFORE_THE_MOVE = "7f42f7725423"  # the gateway's last revision holding audit_log
ENTRIES = 12


def settings_for(cls, target: DatabaseTarget):  # type: ignore[no-untyped-def]
    values = {"database_url": target.url}
    if target.schema:
        values["database_schema"] = target.schema
    return cls(**values)


async def tables(engine) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_an_old_gateway_chain_is_carried_then_dropped_and_verifies(
    db_backend: str, tmp_path: Path
) -> None:
    old = DatabaseTarget(db_backend, tmp_path, "gateway")
    new = DatabaseTarget(db_backend, tmp_path, "audit")
    gateway_settings = settings_for(GatewaySettings, old)
    audit_settings = settings_for(AuditSettings, new)
    await asyncio.to_thread(upgrade, gateway_settings, GATEWAY_MIGRATIONS, BEFORE_THE_MOVE)
    source = create_engine(old.url, schema=old.schema)
    target = create_engine(new.url, schema=new.schema)
    try:
        # The chain as the gateway appended it (its appender, now the audit service's).
        hashes = []
        async with source.begin() as conn:
            prev = chain.GENESIS
            for sequence in range(1, ENTRIES + 1):
                fact = build(
                    actor="admin",
                    action="directory.org_unit.updated",
                    entity_type="org_unit",
                    entity_id=f"U{sequence}",
                    before={"name": "旧"},
                    after={"name": f"新 {sequence}"},
                    service="gateway",
                )
                values = fact.model_dump(mode="python")
                values.update(
                    sequence=sequence,
                    recorded_at=dt.datetime.now(dt.UTC),
                    prev_hash=prev,
                    roles=sorted(values["roles"]),
                )
                values["hash"] = prev = chain.entry_hash(values)
                hashes.append(prev)
                # The same columns and types as the gateway's table had.
                await conn.execute(AuditEntry.__table__.insert(), values)

        # Upgrading the gateway first would lose the chain: it refuses.
        with pytest.raises(RuntimeError, match="import-from-gateway"):
            await asyncio.to_thread(upgrade, gateway_settings, GATEWAY_MIGRATIONS)
        assert "audit_log" in await tables(source)

        await asyncio.to_thread(upgrade, audit_settings, AUDIT_MIGRATIONS)
        report = await carry(source, target)
        assert report.entries == ENTRIES and report.verified["ok"] is True

        await asyncio.to_thread(upgrade, gateway_settings, GATEWAY_MIGRATIONS)
        left = await tables(source)
        assert not left & {"audit_log", "webhook_subscriptions", "webhook_deliveries"}
        assert "audit_carried" not in left

        sessions = session_factory(target)
        assert await audit_service.verify(sessions) == {
            "ok": True,
            "checked": ENTRIES,
            "first_bad_sequence": None,
            "fault": None,
        }
        async with sessions() as session:
            found = await session.execute(sa.text("SELECT hash FROM audit_log ORDER BY sequence"))
            assert [r[0] for r in found] == hashes
            sequence = await audit_service.append(
                session,
                build(
                    actor="admin",
                    action="test.appended",
                    entity_type="t",
                    entity_id="1",
                    before=None,
                    after=None,
                    service="people",
                ),
            )
            await session.commit()
        assert sequence == ENTRIES + 1
        assert (await audit_service.verify(sessions))["checked"] == ENTRIES + 1
    finally:
        await source.dispose()
        await target.dispose()
        await old.cleanup()
        await new.cleanup()


async def test_a_new_gateway_migrates_straight_through(db_backend: str, tmp_path: Path) -> None:
    old = DatabaseTarget(db_backend, tmp_path, "gateway")
    try:
        await asyncio.to_thread(upgrade, settings_for(GatewaySettings, old), GATEWAY_MIGRATIONS)
        engine = create_engine(old.url, schema=old.schema)
        try:
            assert not await tables(engine) & {"audit_log", "webhook_subscriptions"}
        finally:
            await engine.dispose()
    finally:
        await old.cleanup()
