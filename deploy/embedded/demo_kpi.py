"""The demo company's KPI data: every person already has a plan through the seeded role
plans (general manager, HR, finance, sales manager, salesperson; a salesperson on
probation gets the new-salesperson plan); the sales indicators follow the demo deals and
payments. This adds this month's facts of the general manager, the back office and the
sales team (as the CRM, ERP and finance systems would send them) and a team target per
sales team with the +10-point team bonus rule."""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

TZ = ZoneInfo("Asia/Shanghai")


def _facts(company: Any, now: dt.datetime) -> list[dict[str, Any]]:
    rnd = random.Random(20261205)
    at = (now - dt.timedelta(minutes=5)).isoformat()
    out: list[dict[str, Any]] = []

    def fact(eid: str, indicator: str, value: float) -> None:
        out.append(
            {
                "source": "demo",
                "source_id": f"{now:%Y%m}-{eid}-{indicator}",
                "employee_id": eid,
                "indicator": indicator,
                "value": round(value, 4),
                "occurred_at": at,
            }
        )

    for p in company.people:
        eid, role = p["employee_id"], p["job_role"]
        if role == "general_manager":
            fact(eid, "sales_growth", rnd.uniform(0.06, 0.14))
            fact(eid, "team_collaboration_efficiency", rnd.uniform(3.6, 4.6))
            fact(eid, "strategic_goal_completion", rnd.uniform(70, 110))
        elif role == "hr_admin":
            fact(eid, "hr_service_satisfaction", rnd.uniform(3.5, 4.8))
            fact(eid, "hiring_on_time", rnd.uniform(75, 100))
        elif role == "finance":
            fact(eid, "reimbursement_cycle", rnd.uniform(3, 8))
            fact(eid, "sales_cost_ratio", rnd.uniform(0.06, 0.11))
            fact(eid, "cash_turnover", rnd.uniform(4.5, 7.5))
        elif role == "sales_manager":
            fact(eid, "team_collaboration_efficiency", rnd.uniform(3.4, 4.8))
        elif role == "salesperson":
            fact(eid, "leads", rnd.randint(8, 30))
            fact(eid, "feedback_timeliness", rnd.uniform(80, 100))
    return out


def _wait_for_people(http: httpx.Client, company: Any, timeout_s: float = 180.0) -> None:
    """The directory reaches the KPI service as events: wait until it knows everyone."""
    deadline = time.monotonic() + timeout_s
    for p in company.people:
        while True:
            r = http.get(f"/api/v1/kpi/people/{p['employee_id']}/trend", timeout=30)
            if r.status_code == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the KPI service does not know {p['employee_id']} yet")
            time.sleep(0.2)


def load(http: httpx.Client, company: Any, progress: bool) -> dict[str, int]:
    _wait_for_people(http, company)
    now = dt.datetime.now(TZ)
    period = f"{now:%Y-%m}"
    items = _facts(company, now)
    r = http.post("/api/v1/kpi/facts/bulk", json={"items": items}, timeout=120)
    r.raise_for_status()
    created = r.json()["created"] + r.json()["duplicates"]
    rejected = [x for x in r.json()["results"] if x["status"] == "rejected"]
    if rejected:
        raise RuntimeError(f"KPI demo facts refused: {rejected[:3]}")
    teams = [u for u in company.units if u.get("kind") == "team"]
    for team in teams:
        r = http.put(
            f"/api/v1/kpi/units/{team['org_unit_id']}/targets/{period}/deals",
            json={"target": 25, "bonus_threshold": 1.2, "bonus_points": 10},
            timeout=60,
        )
        r.raise_for_status()
    if progress:
        print(f"[zhanli] demo: {created} KPI facts, {len(teams)} team targets", flush=True)
    return {"kpi_facts": created, "kpi_team_targets": len(teams)}
