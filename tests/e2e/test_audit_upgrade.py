"""`make run` on an install from before the audit service: the gateway's database holds
the audit chain; the supervisor carries it into the audit service (hashes unchanged),
the gateway's migration then drops the old tables, and the chain verifies through the
gateway with new entries continuing it."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from zhanli_audit.audit import chain
from zhanli_audit.audit.models import AuditEntry
from zhanli_shared.audit import build
from zhanli_shared.db import create_engine

ROOT = Path(__file__).resolve().parents[2]
BEFORE_THE_MOVE = "7f42f7725423"  # the gateway's last revision holding audit_log
ENTRIES = 30
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]


def _thin_slice() -> object:
    name = "zl_audit_e2e_thin_slice"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests/e2e/test_thin_slice.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


async def _old_chain(db: Path) -> list[str]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    hashes, prev = [], chain.GENESIS
    try:
        async with engine.begin() as conn:
            for sequence in range(1, ENTRIES + 1):
                fact = build(
                    actor="admin",
                    action="directory.employee.updated",
                    entity_type="employee",
                    entity_id=f"OLD{sequence:03d}",
                    before={"job_role": "salesperson"},
                    after={"job_role": "sales_manager", "名字": "旧链"},
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
                await conn.execute(AuditEntry.__table__.insert(), values)
    finally:
        await engine.dispose()
    return hashes


def test_make_run_carries_an_old_gateway_chain(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {**os.environ, "ZHANLI_VAR_DIR": str(var)}
    env.pop("ZHANLI_GATEWAY_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "zhanli_gateway", "migrate", "--revision", BEFORE_THE_MOVE],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    hashes = asyncio.run(_old_chain(var / "gateway.db"))

    platform_gen = _thin_slice().start_platform(tmp_path, "--no-demo")  # type: ignore[attr-defined]
    platform = next(platform_gen)
    try:
        log = platform.log.read_text(errors="replace")
        assert f"{ENTRIES} audit entries carried" in log, log
        with sqlite3.connect(var / "gateway.db") as db:
            left = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert not left & {"audit_log", "webhook_subscriptions", "audit_carried"}

        admin = platform.admin()
        first = admin.get("/api/v1/audit/entries", params={"limit": ENTRIES}).json()["items"]
        assert [e["hash"] for e in first] == hashes
        # The sign-in above is appended after the carried chain, and the whole verifies.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            newer = admin.get("/api/v1/audit/entries", params={"cursor": ENTRIES}).json()
            if newer["items"]:
                break
            time.sleep(0.25)
        assert newer["items"][0]["prev_hash"] == hashes[-1]
        verified = admin.get("/api/v1/audit/verify").json()
        assert verified["ok"] is True and verified["checked"] > ENTRIES
        assert httpx.get(f"{platform.base}/health/ready", timeout=10).status_code == 200
    finally:
        platform_gen.close()
