"""The demo company: a small sales organisation, generated from a fixed seed so every run
is the same, loaded through the gateway's public API like any integration would.

Each capability adds its own demo data here (one generator, one seed).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

SEED = 2026
TZ = ZoneInfo("Asia/Shanghai")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "丽",
    "强",
    "军",
    "平",
    "刚",
    "桂英",
    "建华",
    "文",
    "晨",
    "宇",
    "欣",
    "浩然",
    "梓涵",
]
CUSTOMERS = [
    "上海远航物流有限公司",
    "宁波港通国际货代",
    "深圳海捷供应链",
    "广州南沙船务代理",
    "苏州工业园区精密制造",
    "杭州云仓电商",
    "厦门海峡进出口",
    "东莞智造电子",
    "Pacific Freight Partners",
    "Golden Bridge Trading Co.",
]
PRODUCT_LINES = ["ocean_freight", "air_freight", "customs", "warehousing"]


@dataclass
class DemoCompany:
    units: list[dict[str, Any]] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)


def generate(now: dt.datetime | None = None, seed: int = SEED) -> DemoCompany:
    """The demo company as plain data; the same seed gives the same company."""
    rnd = random.Random(seed)
    now = (now or dt.datetime.now(TZ)).astimezone(TZ)
    c = DemoCompany()
    used: set[str] = set()

    def name() -> str:
        while True:
            n = rnd.choice(SURNAMES) + rnd.choice(GIVEN)
            if n not in used:
                used.add(n)
                return n

    def person(
        eid: str,
        unit: str,
        manager: str | None,
        job: str,
        roles: list[str],
        status: str = "active",
        hired: dt.date | None = None,
    ) -> dict[str, Any]:
        p = {
            "employee_id": eid,
            "name": name(),
            "org_unit_id": unit,
            "manager_id": manager,
            "job_role": job,
            "roles": roles,
            "status": status,
            "hired_on": (hired or dt.date(2024, 3, 1)).isoformat(),
            "phone": f"1{rnd.choice('3589')}{rnd.randint(0, 999_999_999):09d}",
        }
        c.people.append(p)
        return p

    c.units.append(
        {
            "org_unit_id": "G1",
            "name": "战力演示集团 Zhanli Demo Group",
            "kind": "group",
            "parent_id": None,
            "manager_id": "E0001",
        }
    )
    gm = person("E0001", "G1", None, "general_manager", ["executive"])
    hr = person("E0002", "G1", "E0001", "hr_admin", ["hr_admin"])
    fin = person("E0003", "G1", "E0001", "finance", ["finance"])
    for u, who in ((gm, "gm"), (hr, "hr"), (fin, "finance")):
        c.users.append({"username": who, "employee_id": u["employee_id"], "roles": u["roles"]})
    seq = 10
    for b, (bid, bname) in enumerate(
        [("B1", "华东分公司 East China"), ("B2", "华南分公司 South China")]
    ):
        c.units.append(
            {
                "org_unit_id": bid,
                "name": bname,
                "kind": "branch",
                "parent_id": "G1",
                "manager_id": None,
            }
        )
        for t in range(2):
            tid = f"{bid}-T{t + 1}"
            mid = f"E{seq:04d}"
            seq += 1
            c.units.append(
                {
                    "org_unit_id": tid,
                    "name": f"{bname.split()[0]}销售{t + 1}组 Sales Team {t + 1}",
                    "kind": "team",
                    "parent_id": bid,
                    "manager_id": mid,
                }
            )
            mgr = person(mid, tid, "E0001", "sales_manager", ["sales_manager"])
            c.users.append(
                {"username": f"manager{b * 2 + t + 1}", "employee_id": mid, "roles": mgr["roles"]}
            )
            for _ in range(rnd.randint(7, 8)):
                eid = f"E{seq:04d}"
                seq += 1
                probation = rnd.random() < 0.3
                hired = (
                    now
                    - dt.timedelta(
                        days=rnd.randint(20, 80) if probation else rnd.randint(200, 1500)
                    )
                ).date()
                person(
                    eid,
                    tid,
                    mid,
                    "salesperson",
                    ["salesperson"],
                    "probation" if probation else "active",
                    hired,
                )
    sales = [p for p in c.people if p["job_role"] == "salesperson"]
    for p in sales[:3]:
        c.users.append(
            {
                "username": p["employee_id"].lower(),
                "employee_id": p["employee_id"],
                "roles": ["salesperson"],
            }
        )
    c.users.append({"username": "crm", "employee_id": None, "roles": ["integration"]})
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    dseq = 1
    pseq = 1
    for p in sales:
        for _ in range(rnd.randint(2, 6)):
            closed = (
                month_start
                - dt.timedelta(days=rnd.randint(0, 40))
                + dt.timedelta(hours=rnd.randint(9, 18))
            )
            closed = min(closed, now - dt.timedelta(hours=1))
            amount = Decimal(rnd.randrange(8_000, 180_000, 500))
            deal = {
                "deal_id": f"D{dseq:05d}",
                "salesperson_id": p["employee_id"],
                "customer_name": rnd.choice(CUSTOMERS),
                "amount": str(amount),
                "currency": "CNY",
                "product_line": rnd.choice(PRODUCT_LINES),
                "closed_at": closed.isoformat(),
                "source": "crm",
            }
            dseq += 1
            c.deals.append(deal)
            remaining = amount
            for share in rnd.choice(
                [[], [Decimal("0.3")], [Decimal("1")], [Decimal("0.5"), Decimal("0.5")]]
            ):
                part = (amount * share).quantize(Decimal("0.01"))
                part = min(part, remaining)
                if part <= 0:
                    continue
                paid = min(
                    closed + dt.timedelta(days=rnd.randint(1, 20)), now - dt.timedelta(minutes=5)
                )
                c.payments.append(
                    {
                        "payment_id": f"P{pseq:05d}",
                        "deal_id": deal["deal_id"],
                        "amount": str(part),
                        "currency": "CNY",
                        "paid_at": paid.isoformat(),
                        "source": "finance",
                    }
                )
                pseq += 1
                remaining -= part
    _readme_examples(c, month_start)
    since = f"{(month_start - dt.timedelta(days=400)):%Y-%m}"
    c.plans = [
        {
            "plan_id": "demo-sales",
            "name": "销售提成方案（演示） Sales plan (demo)",
            "version": {
                "effective_from": since,
                "rules": {
                    "tier_mode": "graduated",
                    "quota": "200000.00",
                    "ramp": ["0.5", "0.75"],
                    "tiers": [
                        {"from": "0", "rate": "0.02", "name": "基础 base"},
                        {"from": "0.5", "rate": "0.04", "name": "达标 on track"},
                        {"from": "1", "rate": "0.06", "name": "加速 accelerator"},
                    ],
                    "product_rates": {"customs": "0.05"},
                    "clawback": [
                        {"within_days": 90, "share": "1"},
                        {"within_days": 180, "share": "0.5"},
                    ],
                    "probation": {},
                },
            },
        },
        {
            "plan_id": "demo-managers",
            "name": "经理提成方案（演示） Manager override (demo)",
            "version": {
                "effective_from": since,
                "rules": {
                    "tier_mode": "flat",
                    "rate": "0.01",
                    "manager_override": {"rate": "0.05"},
                },
            },
        },
    ]
    c.assignments = [
        {
            "plan_id": "demo-sales",
            "target_type": "role",
            "target_id": "salesperson",
            "effective_from": since,
        },
        {
            "plan_id": "demo-managers",
            "target_type": "role",
            "target_id": "sales_manager",
            "effective_from": since,
        },
    ]
    return c


README_DEAL = "D00001"  # E0011's, left unpaid: the README's first example pays part of it
README_REP = "E0011"


def _readme_examples(c: DemoCompany, month_start: dt.datetime) -> None:
    """What the README's examples promise, whatever the date (tests/e2e/test_readme.py runs
    them): ``README_DEAL`` is still owed in full, and ``README_REP`` earned commission last
    month (the statements example closes, approves and pays last month)."""
    first = next(d for d in c.deals if d["deal_id"] == README_DEAL)
    assert first["salesperson_id"] == README_REP
    c.payments = [p for p in c.payments if p["deal_id"] != README_DEAL]
    for i, payment in enumerate(c.payments, 1):
        payment["payment_id"] = f"P{i:05d}"
    closed = month_start - dt.timedelta(days=15) + dt.timedelta(hours=10)
    deal = {
        "deal_id": f"D{len(c.deals) + 1:05d}",
        "salesperson_id": README_REP,
        "customer_name": CUSTOMERS[0],
        "amount": "60000",
        "currency": "CNY",
        "product_line": PRODUCT_LINES[0],
        "closed_at": closed.isoformat(),
        "source": "crm",
    }
    c.deals.append(deal)
    c.payments.append(
        {
            "payment_id": f"P{len(c.payments) + 1:05d}",
            "deal_id": deal["deal_id"],
            "amount": "60000.00",
            "currency": "CNY",
            "paid_at": (closed + dt.timedelta(days=3)).isoformat(),
            "source": "finance",
        }
    )


def _check(resp: httpx.Response) -> httpx.Response:
    if resp.status_code >= 400:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}"
        )
    return resp


def load_demo(
    base_url: str,
    *,
    admin_password: str,
    demo_password: str,
    company: DemoCompany | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Load the demo company through the gateway; returns a summary with the users."""
    c = company or generate()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        token = _check(
            http.post("/api/v1/auth/token", json={"username": "admin", "password": admin_password})
        ).json()
        http.headers["authorization"] = f"Bearer {token['access_token']}"
        for unit in c.units:
            _check(http.put(f"/api/v1/directory/org-units/{unit['org_unit_id']}", json=unit))
        for i, p in enumerate(c.people, 1):
            _check(http.put(f"/api/v1/directory/employees/{p['employee_id']}", json=p))
            if progress and i % 10 == 0:
                print(f"[zhanli] demo: {i}/{len(c.people)} people", flush=True)
        for u in c.users:
            _check(http.post("/api/v1/auth/users", json={**u, "password": demo_password}))
        for plan in c.plans:
            _check(http.post("/api/v1/commission/plans", json=plan))
        for assignment in c.assignments:
            _check(http.post("/api/v1/commission/plan-assignments", json=assignment))
        crm = _check(
            http.post("/api/v1/auth/token", json={"username": "crm", "password": demo_password})
        ).json()
        http.headers["authorization"] = f"Bearer {crm['access_token']}"
        sellers = sorted({d["salesperson_id"] for d in c.deals})
        _wait_for_people(base_url, admin_password, sellers)
        for i, deal in enumerate(c.deals, 1):
            _check(http.post("/api/v1/commission/deals", json=deal))
            if progress and i % 50 == 0:
                print(f"[zhanli] demo: {i}/{len(c.deals)} deals", flush=True)
        for i, payment in enumerate(c.payments, 1):
            _check(http.post("/api/v1/commission/payments", json=payment))
            if progress and i % 50 == 0:
                print(f"[zhanli] demo: {i}/{len(c.payments)} payments", flush=True)
        # Each service's own demo data: deploy/embedded/demo_<service>.py, load(http, c,
        # progress) -> counts, called signed in as the bootstrap admin.
        http.headers["authorization"] = f"Bearer {token['access_token']}"
        extra: dict[str, int] = {}
        for module in service_loaders():
            extra.update(module.load(http, c, progress))
    return {
        "org_units": len(c.units),
        "people": len(c.people),
        "deals": len(c.deals),
        "payments": len(c.payments),
        "plans": len(c.plans),
        **extra,
        "users": [u["username"] for u in c.users] + ["admin"],
    }


def service_loaders() -> list[Any]:
    """The demo data of each service beyond the directory and commission, one module each
    (``demo_<service>.py`` beside this file), in name order."""
    import importlib

    here = Path(__file__).resolve().parent
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    return [importlib.import_module(f.stem) for f in sorted(here.glob("demo_*.py"))]


def _wait_for_people(
    base_url: str, admin_password: str, employee_ids: list[str], timeout_s: float = 60.0
) -> None:
    """Directory changes reach the commission service as events, each person on their own
    partition: wait until it knows every one of them."""
    with httpx.Client(base_url=base_url, timeout=10) as admin:
        token = _check(
            admin.post("/api/v1/auth/token", json={"username": "admin", "password": admin_password})
        ).json()
        admin.headers["authorization"] = f"Bearer {token['access_token']}"
        waiting = list(employee_ids)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            waiting = [
                e
                for e in waiting
                if admin.get(f"/api/v1/commission/people/{e}/statement").status_code != 200
            ]
            if waiting:
                time.sleep(0.2)
    if waiting:
        raise RuntimeError(f"{len(waiting)} people did not reach the commission service in time")
