"""Authorisation rows of the KPI service (merged into test_authz_matrix.py).

- A person's board, trend and facts are person data: the person, the managers of their
  units and the company-wide roles (hr_admin, hr_bp, finance, executive); out of scope
  they read like an unknown id (404).
- The indicator library is read by everyone signed in; HR administrators define it.
- Plans and assignments are written by hr_admin and read by HR, finance, sales managers and
  executives. Targets: hr_admin anyone's, a sales manager their team's (never their own).
- Facts are written by the systems of record (integration), finance and hr_admin.
- A unit's board: its managers and the company-wide roles.
- Re-scoring a whole period: hr_admin.
"""

from __future__ import annotations

from typing import Any

OK, NO, NF, CF, UN = "2xx", 403, 404, 409, 422
TEAM_A, TEAM_B = "SEC-TA", "SEC-TB"
TEAM_MEMBER = "S-TEAM"

# out of scope reads like an unknown id (404: no id enumeration)
_PERSON_DATA = {
    "hr_admin": (OK, OK, OK),
    "hr_bp": (OK, OK, OK),
    "recruiter": (OK, NF, NF),
    "sales_manager": (OK, OK, NF),
    "mentor": (OK, NF, NF),
    "salesperson": (OK, NF, NF),
    "finance": (OK, OK, OK),
    "executive": (OK, OK, OK),
    "it_ops": (OK, NF, NF),
    "integration": (NF, NF, NF),
}
_TARGET_WRITE = {
    "hr_admin": (OK, OK, OK),
    "sales_manager": (NO, OK, NO),  # their team's people, never their own
}

TARGETED: list[tuple[str, str, Any, Any, Any]] = []
for _endpoint in ("kpi.board.get", "kpi.trend.get", "kpi.facts.list", "kpi.ratings.get"):
    for _role, (_own, _team, _other) in _PERSON_DATA.items():
        TARGETED.append((_endpoint, _role, _own, _team, _other))
for _role in _PERSON_DATA:
    _own, _team, _other = _TARGET_WRITE.get(_role, (NO, NO, NO))
    TARGETED.append(("kpi.person_target.put", _role, _own, _team, _other))

# columns: hr_admin hr_bp recruiter sales_manager mentor salesperson finance executive
#          it_ops integration
_ALL = (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)
_ADMIN = (OK, NO, NO, NO, NO, NO, NO, NO, NO, NO)
_PLAN_READERS = (OK, OK, NO, OK, NO, NO, OK, OK, NO, NO)
_FACT_WRITERS = (OK, NO, NO, NO, NO, NO, OK, NO, NO, OK)
UNTARGETED: dict[str, tuple[Any, ...]] = {
    "kpi.indicators.list": _ALL,
    "kpi.indicator.get": _ALL,
    "kpi.indicator.put": _ADMIN,
    "kpi.plans.list": _PLAN_READERS,
    "kpi.plan.get": _PLAN_READERS,
    "kpi.plan.put": _ADMIN,
    "kpi.plan_assignments.post": _ADMIN,
    "kpi.plan_assignments.get": _PLAN_READERS,
    "kpi.facts.post": _FACT_WRITERS,
    "kpi.facts.bulk": _FACT_WRITERS,
    "kpi.facts.import": _FACT_WRITERS,
    "kpi.facts.import.get": (NF, NO, NO, NO, NO, NO, NF, NO, NO, NF),  # no such job
    # the unit's board: SEC-TA, managed by the sales_manager's person
    "kpi.unit_board.get": (OK, OK, NF, OK, NF, NF, OK, OK, NF, NF),  # out of scope: 404
    "kpi.unit_target.put": (OK, NO, NO, OK, NO, NO, NO, NO, NO, NO),
    "kpi.period.recompute": _ADMIN,
    "kpi.period.close": _ADMIN,  # 2020-01: long over, nobody scored
    "kpi.growth.post": (OK, NO, NO, NO, NO, NO, NO, NO, OK, OK),  # a scheduler's job
    # a rating of a colleague: every person may give one (the integration user is none)
    "kpi.ratings.post": (OK, OK, OK, OK, OK, OK, OK, OK, OK, UN),
    "kpi.unit_analysis.get": (OK, OK, NO, NO, NO, NO, NO, NO, NO, NO),  # HR's export
    # /api/v1/me/kpi: the caller's own board (the integration user is no person -> 404)
    "me.kpi.get": (OK, OK, OK, OK, OK, OK, OK, OK, OK, NF),
}

ROUTES: dict[str, tuple[str, str]] = {
    "kpi.board.get": ("GET", "/api/v1/kpi/people/{employee_id}/board"),
    "kpi.trend.get": ("GET", "/api/v1/kpi/people/{employee_id}/trend"),
    "kpi.facts.list": ("GET", "/api/v1/kpi/people/{employee_id}/facts"),
    "kpi.person_target.put": (
        "PUT",
        "/api/v1/kpi/people/{employee_id}/targets/{period}/{indicator}",
    ),
    "kpi.indicators.list": ("GET", "/api/v1/kpi/indicators"),
    "kpi.indicator.get": ("GET", "/api/v1/kpi/indicators/{code}"),
    "kpi.indicator.put": ("PUT", "/api/v1/kpi/indicators/{code}"),
    "kpi.plans.list": ("GET", "/api/v1/kpi/plans"),
    "kpi.plan.get": ("GET", "/api/v1/kpi/plans/{plan_id}"),
    "kpi.plan.put": ("PUT", "/api/v1/kpi/plans/{plan_id}"),
    "kpi.plan_assignments.post": ("POST", "/api/v1/kpi/plan-assignments"),
    "kpi.plan_assignments.get": ("GET", "/api/v1/kpi/plan-assignments"),
    "kpi.facts.post": ("POST", "/api/v1/kpi/facts"),
    "kpi.facts.bulk": ("POST", "/api/v1/kpi/facts/bulk"),
    "kpi.facts.import": ("POST", "/api/v1/kpi/facts/imports"),
    "kpi.facts.import.get": ("GET", "/api/v1/kpi/facts/imports/{import_id}"),
    "kpi.unit_board.get": ("GET", "/api/v1/kpi/units/{unit_id}/board"),
    "kpi.unit_target.put": ("PUT", "/api/v1/kpi/units/{unit_id}/targets/{period}/{indicator}"),
    "kpi.period.recompute": ("POST", "/api/v1/kpi/periods/{period}/recompute"),
    "me.kpi.get": ("GET", "/api/v1/me/kpi"),
    "kpi.ratings.get": ("GET", "/api/v1/kpi/people/{employee_id}/ratings"),
    "kpi.period.close": ("POST", "/api/v1/kpi/periods/{period}/close"),
    "kpi.growth.post": ("POST", "/api/v1/kpi/growth/{day}"),
    "kpi.ratings.post": ("POST", "/api/v1/kpi/ratings"),
    "kpi.unit_analysis.get": ("GET", "/api/v1/kpi/units/{unit_id}/analysis"),
}


def _fact(role: str, n: int = 0) -> dict[str, Any]:
    return {
        "source": "sec-matrix",
        "source_id": f"{role}-{n}",
        "employee_id": TEAM_MEMBER,
        "indicator": "leads",
        "value": 1,
        "occurred_at": "2026-11-05T10:00:00+08:00",
    }


def request_for(endpoint: str, role: str, target: str | None) -> tuple[str, str, Any] | None:
    tag = role.replace("_", "-")
    if endpoint == "kpi.board.get":
        return "GET", f"/api/v1/kpi/people/{target}/board?period=2026-11", None
    if endpoint == "kpi.trend.get":
        return "GET", f"/api/v1/kpi/people/{target}/trend", None
    if endpoint == "kpi.facts.list":
        return "GET", f"/api/v1/kpi/people/{target}/facts?period=2026-11", None
    if endpoint == "kpi.person_target.put":
        return "PUT", f"/api/v1/kpi/people/{target}/targets/2026-11/leads", {"target": 12}
    if endpoint == "kpi.indicators.list":
        return "GET", "/api/v1/kpi/indicators", None
    if endpoint == "kpi.indicator.get":
        return "GET", "/api/v1/kpi/indicators/revenue", None
    if endpoint == "kpi.indicator.put":
        body = {"name_zh": "矩阵指标", "name_en": "Matrix indicator", "unit": "count"}
        return "PUT", f"/api/v1/kpi/indicators/sx_{role}", body
    if endpoint == "kpi.plans.list":
        return "GET", "/api/v1/kpi/plans", None
    if endpoint == "kpi.plan.get":
        return "GET", "/api/v1/kpi/plans/general-manager", None
    if endpoint == "kpi.plan.put":
        body = {
            "name_zh": "矩阵方案",
            "name_en": "Matrix plan",
            "level": "test",
            "lines": [{"indicator": "leads", "weight": 100, "target": 10}],
        }
        return "PUT", f"/api/v1/kpi/plans/sx-{tag}", body
    if endpoint == "kpi.plan_assignments.post":
        body = {
            "plan_id": "sales-new",
            "target_type": "unit",
            "target_id": f"SX-KPI-{tag}",
            "effective_from": "2026-01",
        }
        return "POST", "/api/v1/kpi/plan-assignments", body
    if endpoint == "kpi.plan_assignments.get":
        return "GET", "/api/v1/kpi/plan-assignments", None
    if endpoint == "kpi.facts.post":
        return "POST", "/api/v1/kpi/facts", _fact(role)
    if endpoint == "kpi.facts.bulk":
        return "POST", "/api/v1/kpi/facts/bulk", {"items": [_fact(role, 1), _fact(role, 2)]}
    if endpoint == "kpi.facts.import":
        from zl_seckit import Raw

        csv = f"工号,指标,数值,日期,单据号\n{TEAM_MEMBER},leads,1,2026-11-05,file-{role}\n"
        return "POST", "/api/v1/kpi/facts/imports", Raw(csv.encode(), "text/csv")
    if endpoint == "kpi.facts.import.get":
        return "GET", "/api/v1/kpi/facts/imports/00000000-0000-4000-8000-000000000000", None
    if endpoint == "kpi.unit_board.get":
        return "GET", f"/api/v1/kpi/units/{TEAM_A}/board?period=2026-11", None
    if endpoint == "kpi.unit_target.put":
        return "PUT", f"/api/v1/kpi/units/{TEAM_A}/targets/2026-11/deals", {"target": 50}
    if endpoint == "kpi.ratings.get":
        return "GET", f"/api/v1/kpi/people/{target}/ratings?period=2026-11", None
    if endpoint == "kpi.period.close":
        return "POST", "/api/v1/kpi/periods/2020-01/close", None
    if endpoint == "kpi.growth.post":
        return "POST", "/api/v1/kpi/growth/2020-01-15", None
    if endpoint == "kpi.ratings.post":
        body = {
            "rated_id": TEAM_MEMBER,
            "indicator": "peer_teamwork",
            "period": "2026-11",
            "score": 4,
        }
        return "POST", "/api/v1/kpi/ratings", body
    if endpoint == "kpi.unit_analysis.get":
        return "GET", f"/api/v1/kpi/units/{TEAM_A}/analysis?period=2026-11", None
    if endpoint == "me.kpi.get":
        return "GET", "/api/v1/me/kpi?period=2026-11", None
    if endpoint == "kpi.period.recompute":
        return "POST", "/api/v1/kpi/periods/2020-01/recompute", None
    return None
