"""End to end with real processes: `make run`'s supervisor brings up Tansu, the five
services and the gateway; a payment posted through the gateway becomes commission and
collected revenue, both read through the gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from zhanli_shared.testing.broker import free_port, free_port_block

ROOT = Path(__file__).resolve().parents[2]
# Generous ceilings: a platform start plus the demo load shares a 2-core machine with the
# other tests (nothing here asserts speed).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]


class Platform:
    def __init__(self, proc: subprocess.Popen[bytes], base: str, var: Path, log: Path) -> None:
        self.proc, self.base, self.var, self.log = proc, base, var, log

    def token(self, username: str, password: str) -> str:
        r = httpx.post(
            f"{self.base}/api/v1/auth/token",
            json={"username": username, "password": password},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def admin(self) -> httpx.Client:
        password = (self.var / "keys" / "admin-password").read_text().strip()
        return httpx.Client(
            base_url=self.base,
            timeout=10,
            headers={"authorization": "Bearer " + self.token("admin", password)},
        )


def start_platform(tmp: Path, *extra: str) -> Iterator[Platform]:
    # The gateway on base, the services on base+1, base+2, ... (room for a few more).
    base_port = free_port_block(12)
    gw = base_port
    var = tmp / "var"
    log = tmp / "supervisor.log"
    out = open(log, "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "deploy/embedded/supervisor.py"),
            "--var-dir",
            str(var),
            "--gateway-port",
            str(gw),
            "--port-base",
            str(base_port),
            "--broker-port",
            str(free_port()),
            *extra,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    platform = Platform(proc, f"http://127.0.0.1:{gw}", var, log)
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C stops everything" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.25)
        yield platform
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        out.close()


@pytest.fixture(scope="module")
def sqlite_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(tmp_path_factory.mktemp("e2e-sqlite"))


def run_slice(platform: Platform, expected: str = "600.00") -> None:
    """``expected``: the commission of 20,000 collected (3 % flat by default; the demo
    company's plan pays 2 % in its base tier)."""
    admin = platform.admin()
    rep = f"E{uuid.uuid4().hex[:6].upper()}"
    admin.put(
        "/api/v1/directory/org-units/TE2E",
        json={"org_unit_id": "TE2E", "name": "端到端测试组 E2E team", "kind": "team"},
    ).raise_for_status()
    r = admin.put(
        f"/api/v1/directory/employees/{rep}",
        json={
            "employee_id": rep,
            "name": "赵敏",
            "org_unit_id": "TE2E",
            "job_role": "salesperson",
            "roles": ["salesperson"],
            "status": "probation",
            "hired_on": "2026-10-08",
        },
    )
    assert r.status_code == 200, r.text
    crm_user = f"crm-{rep.lower()}"
    admin.post(
        "/api/v1/auth/users",
        json={"username": crm_user, "password": "integration-1", "roles": ["integration"]},
    ).raise_for_status()
    admin.post(
        "/api/v1/auth/users",
        json={
            "username": rep.lower(),
            "password": "salesperson-1",
            "employee_id": rep,
            "roles": ["salesperson"],
        },
    ).raise_for_status()
    crm = httpx.Client(
        base_url=platform.base,
        timeout=10,
        headers={"authorization": "Bearer " + platform.token(crm_user, "integration-1")},
    )
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "杭州云仓电商",
        "amount": "80000.00",
        "currency": "CNY",
        "closed_at": "2026-11-03T10:00:00+08:00",
    }
    deadline = time.monotonic() + 60  # generous: a busy machine
    while True:  # the directory reaches the commission service as an event
        r = crm.post("/api/v1/commission/deals", json=deal)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "salesperson_id", r.text
        time.sleep(0.1)
    assert r.status_code == 201, r.text
    payment = {
        "payment_id": f"P-{rep}",
        "deal_id": deal["deal_id"],
        "amount": "20000.00",
        "currency": "CNY",
        "paid_at": "2026-11-05T15:00:00+08:00",
    }
    r = crm.post("/api/v1/commission/payments", json=payment)
    assert r.status_code == 201, r.text
    assert r.headers.get("x-request-id")
    again = crm.post("/api/v1/commission/payments", json=payment)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    me = httpx.Client(
        base_url=platform.base,
        timeout=10,
        headers={"authorization": "Bearer " + platform.token(rep.lower(), "salesperson-1")},
    )
    deadline = time.monotonic() + 90  # generous: a busy machine
    statement = revenue = None
    while time.monotonic() < deadline:
        statement = me.get(f"/api/v1/commission/people/{rep}/statement?period=2026-11").json()
        revenue = me.get(f"/api/v1/kpi/people/{rep}/revenue?period=2026-11").json()
        if statement.get("lines") and revenue.get("payments") == 1:
            break
        time.sleep(0.1)
    assert statement and [Decimal(x["amount"]) for x in statement["lines"]] == [Decimal(expected)]
    assert Decimal(statement["total"]) == Decimal(expected)
    assert revenue and Decimal(revenue["collected"]) == Decimal("20000.00")
    assert Decimal(revenue["booked"]) == Decimal("80000.00")
    # Someone else's commission stays hidden, and nothing goes through without a token.
    assert me.get("/api/v1/commission/people/E0011/statement").status_code in (403, 404)
    assert httpx.get(f"{platform.base}/api/v1/commission/people/{rep}/statement").status_code == 401


def test_make_run_is_ready_with_demo_data_and_every_component(sqlite_platform: Platform) -> None:
    ready = httpx.get(f"{sqlite_platform.base}/health/ready", timeout=10)
    assert ready.status_code == 200
    components = ready.json()["components"]
    assert set(components) == {
        "gateway",
        "broker",
        "talent",
        "learning",
        "kpi",
        "commission",
        "retention",
        "people",
        "audit",
    }
    assert all(c["state"] == "ok" for c in components.values())
    summary = json.loads((sqlite_platform.var / "demo-loaded").read_text())
    assert summary["people"] >= 30 and summary["payments"] > 0
    admin = sqlite_platform.admin()
    people = admin.get("/api/v1/directory/employees?limit=500").json()
    assert people["total"] == summary["people"]
    sales = [p for p in people["items"] if p["job_role"] == "salesperson"]
    totals = [
        Decimal(
            admin.get(f"/api/v1/commission/people/{p['employee_id']}/statement").json()["total"]
        )
        for p in sales
    ]
    assert len(sales) >= 28 and sum(totals) > 0


def test_thin_slice_on_sqlite(sqlite_platform: Platform) -> None:
    run_slice(sqlite_platform, expected="400.00")  # the demo plan: 2 % below half the quota


def test_writes_and_sign_ins_reach_the_audit_chain_and_webhooks_are_served(
    sqlite_platform: Platform,
) -> None:
    """The audit service behind the gateway: a directory write (audited by the service that
    made it) and a failed sign-in (published by the gateway) both land in the chain,
    which verifies; webhooks are managed at the same public paths as before."""
    admin = sqlite_platform.admin()
    unit = f"AU{uuid.uuid4().hex[:6].upper()}"
    admin.put(
        f"/api/v1/directory/org-units/{unit}",
        json={"org_unit_id": unit, "name": "审计组 Audit team", "kind": "team"},
    ).raise_for_status()
    rid = f"rid-{uuid.uuid4().hex[:8]}"
    bad = httpx.post(
        f"{sqlite_platform.base}/api/v1/auth/token",
        json={"username": "admin", "password": "not-the-password"},
        headers={"x-request-id": rid},
        timeout=10,
    )
    assert bad.status_code == 401
    deadline = time.monotonic() + 60
    created: list[dict] = []
    failed: list[dict] = []
    while time.monotonic() < deadline and not (created and failed):
        created = admin.get("/api/v1/audit/entries", params={"entity_id": unit}).json()["items"]
        failed = [
            e
            for e in admin.get(
                "/api/v1/audit/entries", params={"action": "auth.login.failed", "order": "desc"}
            ).json()["items"]
            if e["request_id"] == rid
        ]
        time.sleep(0.25)
    assert created and created[0]["action"] == "directory.org_unit.created"
    assert failed and failed[0]["service"] == "gateway" and failed[0]["entity_id"] == "admin"
    assert "not-the-password" not in json.dumps(failed)
    verified = admin.get("/api/v1/audit/verify").json()
    assert verified["ok"] is True and verified["checked"] >= 2

    types = admin.get("/api/v1/webhooks/event-types").json()
    assert "zhanli.sales.payment_received.v1" in types
    assert not any(t.startswith(("zhanli.audit.", "zhanli.gateway.")) for t in types)
    r = admin.post(
        "/api/v1/webhooks/subscriptions",
        json={
            "name": "e2e",
            "url": "https://receiver.example.com/hooks",
            "event_types": ["zhanli.sales.*"],
        },
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    listed = admin.get("/api/v1/webhooks/subscriptions").json()
    assert sub["id"] in {s["id"] for s in listed}
    assert admin.delete(f"/api/v1/webhooks/subscriptions/{sub['id']}").status_code == 204


def test_crashed_service_is_reported_and_restarted(sqlite_platform: Platform) -> None:
    ready = httpx.get(f"{sqlite_platform.base}/health/ready", timeout=10)
    assert ready.status_code == 200
    talent_url = ready.json()["components"]["talent"]["url"]
    admin = sqlite_platform.admin()
    # Find the talent child by its command line (read whole from /proc: a `ps` listing is
    # cut to the terminal's width when COLUMNS is set) and kill it.
    commands = _command_lines()
    victims = [pid for pid, argv in commands.items() if _is_serving(argv, "zhanli_talent")]
    mine = [p for p in victims if _env_var_dir(p) == str(sqlite_platform.var)]
    assert mine, commands
    os.kill(mine[0], signal.SIGKILL)
    # Traffic goes on through the gateway while talent is down (its breaker opens); once
    # talent answers again, the gateway lets traffic back within about a second (its breaker
    # probes the service), not after a fixed wait (it took 11.5 s before).
    through_gateway = "/api/v1/talent/no-such-thing"  # the service's own 404 once it is back
    statuses: set[int] = set()
    back: float | None = None
    lag: float | None = None
    deadline = time.monotonic() + 120
    while lag is None and time.monotonic() < deadline:
        status = admin.get(through_gateway).status_code
        statuses.add(status)
        if back is not None and status < 500:
            lag = time.monotonic() - back
        elif back is None:
            try:
                if httpx.get(f"{talent_url}/health/live", timeout=2).status_code == 200:
                    back = time.monotonic()
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    assert lag is not None and 503 in statuses, (lag, statuses)
    print(f"the gateway answered {lag:.2f}s after talent was back")
    assert lag < 5.0, f"the gateway answered {lag:.1f}s after talent was back"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = sqlite_platform.log.read_text(errors="replace")
        if (
            "talent restarted" in text
            and httpx.get(f"{sqlite_platform.base}/health/ready", timeout=10).status_code == 200
        ):
            break
        time.sleep(0.5)
    text = sqlite_platform.log.read_text(errors="replace")
    assert "talent exited with code -9" in text
    assert httpx.get(f"{sqlite_platform.base}/health/ready", timeout=10).status_code == 200


def _command_lines() -> dict[int, list[str]]:
    """Every process's full argv, from /proc (never cut, unlike a `ps` listing)."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if raw:
            found[int(entry.name)] = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return found


def _is_serving(argv: list[str], package: str) -> bool:
    """``python -m <package> serve ...``."""
    return any(a == package and argv[i + 1 : i + 2] == ["serve"] for i, a in enumerate(argv))


def _env_var_dir(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"ZHANLI_VAR_DIR="):
            return item.split(b"=", 1)[1].decode()
    return None


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL not set")
def test_thin_slice_on_postgres(tmp_path: Path) -> None:
    prefix = f"e2e_{uuid.uuid4().hex[:8]}_"
    try:
        for platform in start_platform(
            tmp_path,
            "--no-demo",
            "--database-url",
            os.environ["TEST_DATABASE_URL"],
            "--schema-prefix",
            prefix,
        ):
            run_slice(platform)
    finally:
        import asyncio

        from zhanli_shared.testing.plugin import drop_schema

        for name in ("gateway", "talent", "learning", "kpi", "commission", "retention", "people"):
            asyncio.run(drop_schema(os.environ["TEST_DATABASE_URL"], prefix + name))
