"""End to end with real processes: a KPI fact posted through the gateway re-scores the
person in the KPI service, whose ``zhanli.kpi.score_updated.v1`` opens the commission
plan's accelerator gate: the person's statement is re-priced at the accelerator rate."""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from zhanli_shared.money import business_month

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]
SH = dt.timezone(dt.timedelta(hours=8))


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_kpi", Path(__file__).with_name("test_thin_slice.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _until(fetch, done, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _thin_slice().start_platform(tmp_path_factory.mktemp("kpi-gate"), "--no-demo")


def test_a_kpi_fact_opens_the_accelerator_gate(platform: Any) -> None:
    admin = platform.admin()
    suffix = uuid.uuid4().hex[:6].upper()
    rep = f"K{suffix}"
    admin.put(
        "/api/v1/directory/org-units/TKG",
        json={"org_unit_id": "TKG", "name": "KPI闸门测试组 KPI gate team", "kind": "team"},
    ).raise_for_status()
    admin.put(
        f"/api/v1/directory/employees/{rep}",
        json={
            "employee_id": rep,
            "name": "周杰",
            "org_unit_id": "TKG",
            "job_role": "salesperson",
            "roles": ["salesperson"],
            "status": "active",
            "hired_on": "2025-03-01",
        },
    ).raise_for_status()
    crm_user = f"crm-{suffix.lower()}"
    admin.post(
        "/api/v1/auth/users",
        json={"username": crm_user, "password": "integration-1", "roles": ["integration"]},
    ).raise_for_status()
    crm = httpx.Client(
        base_url=platform.base,
        timeout=10,
        headers={"authorization": "Bearer " + platform.token(crm_user, "integration-1")},
    )
    now = dt.datetime.now(SH).replace(microsecond=0)
    if now.day == 1 and now.hour == 0 and now.minute < 5:
        time.sleep(300)  # keep the test inside one business month
        now = dt.datetime.now(SH).replace(microsecond=0)
    period = business_month(now, "Asia/Shanghai")
    # commission: 5 % to quota, 8 % above it, the accelerator only at a KPI score >= 0.9
    plan_id = f"GATE-{suffix}"
    r = admin.post(
        "/api/v1/commission/plans",
        json={
            "plan_id": plan_id,
            "name": "KPI闸门方案 KPI-gated plan",
            "version": {
                "effective_from": "2026-01",
                "rules": {
                    "tier_mode": "graduated",
                    "quota": "10000",
                    "tiers": [
                        {"from": "0", "rate": "0.05", "name": "基础 base"},
                        {"from": "1", "rate": "0.08", "name": "加速 accelerator"},
                    ],
                    "kpi_gate": {"threshold": "0.9"},
                },
            },
        },
    )
    assert r.status_code == 201, r.text
    for path, body in (
        (
            "/api/v1/commission/plan-assignments",
            {
                "plan_id": plan_id,
                "target_type": "person",
                "target_id": rep,
                "effective_from": "2026-01",
            },
        ),
    ):
        r = _until(  # the directory reaches the commission service as an event
            lambda path=path, body=body: admin.post(path, json=body),
            lambda r: r.status_code != 422,
        )
        assert r.status_code == 201, r.text
    # KPI: one indicator fed by the CRM, leads against a target of 10
    kpi_plan = f"gate-{suffix.lower()}"
    r = admin.put(
        f"/api/v1/kpi/plans/{kpi_plan}",
        json={
            "name_zh": "闸门测试",
            "name_en": "Gate test",
            "level": "salesperson",
            "lines": [{"indicator": "leads", "weight": 100, "target": 10}],
        },
    )
    assert r.status_code == 201, r.text
    r = admin.post(
        "/api/v1/kpi/plan-assignments",
        json={
            "plan_id": kpi_plan,
            "target_type": "person",
            "target_id": rep,
            "effective_from": "2026-01",
        },
    )
    assert r.status_code == 201, r.text
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "宁波港联物流",
        "amount": "20000.00",
        "closed_at": (now - dt.timedelta(seconds=5)).isoformat(),
    }
    r = _until(
        lambda: crm.post("/api/v1/commission/deals", json=deal), lambda r: r.status_code != 422
    )
    assert r.status_code == 201, r.text
    r = crm.post(
        "/api/v1/commission/payments",
        json={
            "payment_id": f"P-{rep}",
            "deal_id": deal["deal_id"],
            "amount": "15000.00",
            "paid_at": (now - dt.timedelta(seconds=4)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    statement = f"/api/v1/commission/people/{rep}/statement?period={period}"

    def total() -> Decimal | None:
        body = admin.get(statement).json()
        return Decimal(body["total"]) if body.get("lines") else None

    # gate shut: 10,000 at 5 % + 5,000 at the last base rate 5 % = 750
    assert _until(total, lambda t: t == Decimal("750.00")) == Decimal("750.00")
    # the KPI service has scored the person (no leads yet: 0)
    board = f"/api/v1/kpi/people/{rep}/board?period={period}"
    b = _until(lambda: admin.get(board), lambda r: r.status_code == 200).json()
    assert b["plan"]["plan_id"] == kpi_plan
    r = crm.post(
        "/api/v1/kpi/facts",
        json={
            "source": "crm",
            "source_id": f"L-{rep}",
            "employee_id": rep,
            "indicator": "leads",
            "value": 9.5,
            "occurred_at": now.isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    b = admin.get(board).json()
    assert b["total"] == 0.95  # current when the fact's request returned
    # gate open: 10,000 at 5 % + 5,000 at 8 % = 900
    got = _until(total, lambda t: t == Decimal("900.00"), 90)
    assert got == Decimal("900.00"), admin.get(statement).json()
