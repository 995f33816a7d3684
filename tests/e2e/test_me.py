"""/api/v1/me end to end: the real gateway, commission and KPI processes under the embedded
supervisor; a salesperson's own profile, commission (paged), what-if, revenue and
notifications, each with a strong ETag and 304 on If-None-Match. (The gateway's own parts
of /me are tested in gateway/tests/test_me.py.)"""

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

# the module's platform starts in its first test: eight processes on a busy machine
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]
SH = dt.timezone(dt.timedelta(hours=8))


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice", Path(__file__).with_name("test_thin_slice.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _client(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=10, headers={"authorization": "Bearer " + token})


def _until(fetch, done, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One platform for the module: a team, two salespeople, a CRM user, a deal and two
    payments of the first salesperson in the current business month."""
    for platform in _thin_slice().start_platform(tmp_path_factory.mktemp("me"), "--no-demo"):
        yield _populate(platform)


def _populate(platform: Any) -> dict[str, Any]:
    admin = platform.admin()
    suffix = uuid.uuid4().hex[:6].upper()
    rep, other = f"E{suffix}", f"F{suffix}"
    admin.put(
        "/api/v1/directory/org-units/TME",
        json={"org_unit_id": "TME", "name": "移动端测试组 Mobile team", "kind": "team"},
    ).raise_for_status()
    for emp, name in ((rep, "韩梅梅"), (other, "李雷")):
        admin.put(
            f"/api/v1/directory/employees/{emp}",
            json={
                "employee_id": emp,
                "name": name,
                "org_unit_id": "TME",
                "job_role": "salesperson",
                "roles": ["salesperson"],
                "status": "active",
                "hired_on": "2026-09-01",
            },
        ).raise_for_status()
    crm_user = f"crm-{suffix.lower()}"
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
    crm = _client(platform.base, platform.token(crm_user, "integration-1"))
    me = _client(platform.base, platform.token(rep.lower(), "salesperson-1"))
    now = dt.datetime.now(SH).replace(microsecond=0)
    month_end = (now.replace(day=28) + dt.timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0
    )
    if (month_end - now).total_seconds() < 120 or (now.day, now.hour, now.minute) == (1, 0, 0):
        time.sleep(130)  # keep the whole module inside one business month
        now = dt.datetime.now(SH).replace(microsecond=0)
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "宁波港联物流",
        "amount": "80000.00",
        "closed_at": (now - dt.timedelta(seconds=3)).isoformat(),
    }
    r = _until(  # the directory reaches the commission service as an event
        lambda: crm.post("/api/v1/commission/deals", json=deal),
        lambda r: r.status_code != 422,
    )
    assert r.status_code == 201, r.text
    statement = f"/api/v1/commission/people/{rep}/statement"
    payments = [("20000.00", now - dt.timedelta(seconds=2)), ("5000.50", now)]
    for i, (amount, paid_at) in enumerate(payments, start=1):
        r = crm.post(
            "/api/v1/commission/payments",
            json={
                "payment_id": f"P{i}-{rep}",
                "deal_id": deal["deal_id"],
                "amount": amount,
                "paid_at": paid_at.isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        # Priced one after the other: the feed's newest-first order is then known.
        body = _until(lambda: me.get(statement).json(), lambda b, i=i: len(b["lines"]) == i)
        assert len(body["lines"]) == i, body
    # The other salesperson has reached the commission service too.
    r = _until(
        lambda: admin.post(f"/api/v1/commission/people/{other}/what-if", json={"amount": "1.00"}),
        lambda r: r.status_code == 200,
    )
    assert r.status_code == 200, r.text
    return {
        "platform": platform,
        "admin": admin,
        "me": me,
        "rep": rep,
        "other": other,
        "period": business_month(now, "Asia/Shanghai"),
    }


def _money(body: dict[str, Any], *keys: str) -> dict[str, Decimal]:
    return {k: Decimal(body[k]) for k in keys}


def _revalidates(client: httpx.Client, url: str) -> httpx.Response:
    """The answer carries a strong ETag; the same URL with If-None-Match answers 304."""
    first = client.get(url)
    assert first.status_code == 200, first.text
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert first.headers["cache-control"] == "private, no-cache"
    for header in (tag, f"W/{tag}", f'"nope", {tag}'):
        again = client.get(url, headers={"if-none-match": header})
        assert again.status_code == 304, (url, header, again.text)
        assert again.content == b"" and again.headers["etag"] == tag
    changed = client.get(url, headers={"if-none-match": '"something-else"'})
    assert changed.status_code == 200 and changed.headers["etag"] == tag
    assert changed.content == first.content
    return first


def test_me_is_the_directory_profile(world: dict[str, Any]) -> None:
    me, rep = world["me"], world["rep"]
    body = _revalidates(me, "/api/v1/me").json()
    assert body == {
        "employee_id": rep,
        "name": "韩梅梅",
        "job_role": "salesperson",
        "status": "active",
        "hired_on": "2026-09-01",
        "manager_id": None,
        "org_unit": {
            "org_unit_id": "TME",
            "name": "移动端测试组 Mobile team",
            "kind": "team",
            "path": ["TME"],
        },
        "roles": ["salesperson"],
        "token_roles": ["salesperson"],
        "manages": [],
    }
    base = world["platform"].base
    assert httpx.get(f"{base}/api/v1/me", timeout=10).status_code == 401
    # A sign-in that is not a person (the bootstrap admin: sub = username) has no /me.
    for path in ("/api/v1/me", "/api/v1/me/commission", "/api/v1/me/notifications"):
        r = world["admin"].get(path)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"


def test_my_commission_total_and_lines_a_page_at_a_time(world: dict[str, Any]) -> None:
    me, rep, period = world["me"], world["rep"], world["period"]
    full = _revalidates(me, "/api/v1/me/commission").json()
    assert full["employee_id"] == rep and full["period"] == period
    assert full["currency"] == "CNY" and full["line_count"] == 2 and full["next_cursor"] is None
    assert _money(full, "total", "basis_total") == {
        "total": Decimal("750.02"),  # 600.00 + 150.015 rounded half-up once
        "basis_total": Decimal("25000.50"),
    }
    assert [line["payment_id"] for line in full["lines"]] == [f"P1-{rep}", f"P2-{rep}"]
    assert [Decimal(x["amount"]) for x in full["lines"]] == [Decimal("600.00"), Decimal("150.02")]

    first = me.get("/api/v1/me/commission", params={"limit": 1, "period": period}).json()
    assert [x["payment_id"] for x in first["lines"]] == [f"P1-{rep}"]
    assert Decimal(first["total"]) == Decimal("750.02") and first["line_count"] == 2
    assert first["next_cursor"]
    second = me.get(
        "/api/v1/me/commission", params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert [x["payment_id"] for x in second["lines"]] == [f"P2-{rep}"]
    assert second["period"] == period and second["next_cursor"] is None
    assert Decimal(second["total"]) == Decimal("750.02")
    page = me.get(f"/api/v1/me/commission?limit=1&cursor={first['next_cursor']}")
    assert page.headers["etag"] != me.get("/api/v1/me/commission?limit=1").headers["etag"]

    for params, field in (
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": first["next_cursor"], "period": "2020-01"}, "cursor"),
        ({"limit": 0}, "query.limit"),
        ({"period": "2026-13"}, "query.period"),
    ):
        r = me.get("/api/v1/me/commission", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]]
    empty = me.get("/api/v1/me/commission", params={"period": "2020-01"}).json()
    assert empty["lines"] == [] and Decimal(empty["total"]) == 0


def test_my_what_if_is_exact_and_writes_nothing(world: dict[str, Any]) -> None:
    me, rep, period = world["me"], world["rep"], world["period"]
    r = me.post("/api/v1/me/commission/what-if", json={"amount": "10000.00"})
    assert r.status_code == 200, r.text
    assert r.headers["etag"].startswith('"')
    body = r.json()
    assert body["employee_id"] == rep and body["period"] == period
    assert body["rule"] == "default/flat" and body["currency"] == "CNY"
    assert _money(
        body,
        "current_total",
        "basis_total",
        "estimated_commission",
        "new_total",
        "new_basis_total",
        "rate",
    ) == {
        "current_total": Decimal("750.02"),
        "basis_total": Decimal("25000.50"),
        "estimated_commission": Decimal("300.00"),
        "new_total": Decimal("1050.02"),
        "new_basis_total": Decimal("35000.50"),
        "rate": Decimal("0.03"),
    }
    r = me.post(
        "/api/v1/me/commission/what-if",
        json={"amount": "333.35", "currency": "CNY", "paid_at": "2026-01-31T16:30:00Z"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["period"] == "2026-02"  # 00:30 on 1 February in Shanghai
    assert _money(r.json(), "estimated_commission", "current_total", "new_total") == {
        "estimated_commission": Decimal("10.00"),  # 10.0005 -> 10.00
        "current_total": Decimal("0.00"),
        "new_total": Decimal("10.00"),
    }
    for payload, status, field in (
        ({"amount": "10.00", "tip": 1}, 422, "body.tip"),
        ({"amount": "0.001"}, 422, "body.amount"),
        ({"amount": "10.00", "currency": "USD"}, 422, "currency"),  # the service's own check
    ):
        r = me.post("/api/v1/me/commission/what-if", json=payload)
        assert r.status_code == status, (payload, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    # Nothing was written: the statement is as before.
    statement = me.get(f"/api/v1/commission/people/{rep}/statement").json()
    assert len(statement["lines"]) == 2 and Decimal(statement["total"]) == Decimal("750.02")
    # A salesperson may not what-if someone else (the direct route, through the gateway).
    # Out of scope is answered like an unknown person (404): ids cannot be enumerated.
    r = me.post(f"/api/v1/commission/people/{world['other']}/what-if", json={"amount": "1.00"})
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    own = me.post(f"/api/v1/commission/people/{rep}/what-if", json={"amount": "10000.00"})
    assert own.status_code == 200 and own.json() == body


def test_my_revenue(world: dict[str, Any]) -> None:
    me, rep, period = world["me"], world["rep"], world["period"]
    r = _until(lambda: me.get("/api/v1/me/revenue"), lambda r: r.json().get("payments") == 2, 30)
    assert r.status_code == 200, r.text
    body = _revalidates(me, f"/api/v1/me/revenue?period={period}").json()
    assert body["employee_id"] == rep and body["period"] == period
    assert body["payments"] == 2 and body["deals"] == 1
    assert _money(body, "booked", "collected") == {
        "booked": Decimal("80000.00"),
        "collected": Decimal("25000.50"),
    }


def test_my_kpi_board(world: dict[str, Any]) -> None:
    """The caller's live KPI board in one call: the salesperson role's seeded plan, the
    revenue line fed by the deal, an ETag like the other /me reads."""
    me, rep, period = world["me"], world["rep"], world["period"]
    r = _until(
        lambda: me.get("/api/v1/me/kpi"),
        lambda r: r.status_code == 200 and r.json()["highlights"].get("revenue") == 80000,
        30,
    )
    assert r.status_code == 200, r.text
    body = _revalidates(me, f"/api/v1/me/kpi?period={period}").json()
    assert body["employee_id"] == rep and body["period"] == period
    assert body["plan"]["plan_id"] == "sales-freight"
    revenue = next(line for line in body["lines"] if line["indicator"] == "revenue")
    assert revenue["value"] == 80000 and revenue["weight"] == 40
    assert revenue["gap"] == revenue["target"] - 80000
    assert body["highlights"]["collected_revenue"] == 25000.5
    assert sum(line["contribution"] for line in body["lines"]) == pytest.approx(
        body["total"] - body["bonus"], abs=1e-3
    )


def test_my_notifications_newest_first(world: dict[str, Any]) -> None:
    me, rep, period = world["me"], world["rep"], world["period"]
    feed = _revalidates(me, "/api/v1/me/notifications").json()
    assert feed["periods"][0] == period and len(feed["periods"]) == 2
    assert [n["data"]["payment_id"] for n in feed["items"]] == [f"P2-{rep}", f"P1-{rep}"]
    newest = feed["items"][0]
    assert newest["type"] == "commission.calculated"
    assert newest["message"] == (
        "你的回款 5000.50 CNY 已计入提成 150.02 CNY / commission 150.02 CNY on payment 5000.50 CNY"
    )
    assert Decimal(newest["data"]["amount"]) == Decimal("150.02")
    one = me.get("/api/v1/me/notifications", params={"limit": 1}).json()
    assert [n["id"] for n in one["items"]] == [newest["id"]] and one["next_cursor"]
    two = me.get(
        "/api/v1/me/notifications", params={"limit": 1, "cursor": one["next_cursor"]}
    ).json()
    assert [n["data"]["payment_id"] for n in two["items"]] == [f"P1-{rep}"]
    assert two["next_cursor"] is None
    # A cursor of another list is refused.
    cursor = me.get("/api/v1/me/commission?limit=1").json()["next_cursor"]
    r = me.get("/api/v1/me/notifications", params={"cursor": cursor})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
