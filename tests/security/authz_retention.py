"""Authorisation rows of the retention service (merged into test_authz_matrix.py).

A retention risk score is neither plain person data nor pay: HR (hr_admin, hr_bp) and the
person's management chain see it; never peers, mentors, finance or executives reading
around; the person concerned reads the explanation of their own score (PIPL Art. 24), not
the score list. Aggregated reports (cohorts, fairness, effect) go to HR and executives;
model changes and history imports to hr_admin (hr_bp trains and reads models).
"""

from __future__ import annotations

import time
from typing import Any

from zl_seckit import OTHER_MEMBER, World

OK, NO, NF, CF, UN = "2xx", 403, 404, 409, 422
NO_ID = "00000000-0000-4000-8000-000000000000"

TARGETED: list[tuple[str, str, Any, Any, Any]] = []
for _endpoint, _hr, _manager, _own in (
    # (endpoint, hr cells, sales_manager (own, team, other), a person's own cell)
    ("retention.score.get", OK, (NO, OK, NO), NO),
    ("retention.explanation.get", OK, (OK, OK, NO), OK),
    ("retention.interventions.list", OK, (NO, OK, NO), NO),
    ("retention.interventions.post", OK, (NO, OK, NO), NO),
):
    TARGETED += [
        (_endpoint, "hr_admin", _hr, _hr, _hr),
        (_endpoint, "hr_bp", _hr, _hr, _hr),
        (_endpoint, "sales_manager", *_manager),
    ]
    for _role in ("recruiter", "mentor", "salesperson", "finance", "executive", "it_ops"):
        TARGETED.append((_endpoint, _role, _own, NO, NO))
    # the integration user is no person: its own id is unknown to retention
    TARGETED.append(
        (_endpoint, "integration", NF if _endpoint == "retention.explanation.get" else NO, NO, NO)
    )
TARGETED += [
    ("retention.attributes.put", "hr_admin", OK, OK, OK),
    *[
        ("retention.attributes.put", r, NO, NO, NO)
        for r in (
            "hr_bp",
            "recruiter",
            "sales_manager",
            "mentor",
            "salesperson",
            "finance",
            "executive",
            "it_ops",
            "integration",
        )
    ],
]

HR_READ = (OK, OK, NO, NO, NO, NO, NO, NO, NO, NO)
HR_ADMIN = (OK, NO, NO, NO, NO, NO, NO, NO, NO, NO)
REPORTS = (OK, OK, NO, NO, NO, NO, NO, OK, NO, NO)
UNTARGETED: dict[str, tuple[Any, ...]] = {
    # the list: HR everyone, a manager their units (the role alone is not enough)
    "retention.scores.list": (OK, OK, NO, OK, NO, NO, NO, NO, NO, NO),
    "retention.scores.refresh": HR_READ,
    "retention.config.get": HR_READ,
    "retention.config.put": HR_ADMIN,
    "retention.models.train": HR_READ,
    "retention.models.list": HR_READ,
    "retention.models.run.get": (NF, NF, NO, NO, NO, NO, NO, NO, NO, NO),
    "retention.models.card.get": (NF, NF, NO, NO, NO, NO, NO, NO, NO, NO),
    "retention.models.activate": (NF, NO, NO, NO, NO, NO, NO, NO, NO, NO),
    # nothing active in the security company -> 409 once allowed
    "retention.models.rollback": (CF, NO, NO, NO, NO, NO, NO, NO, NO, NO),
    # a body that is not base64 -> 422 once allowed
    "retention.history.imports.post": (UN, NO, NO, NO, NO, NO, NO, NO, NO, NO),
    "retention.history.imports.list": HR_READ,
    "retention.history.import.get": (NF, NF, NO, NO, NO, NO, NO, NO, NO, NO),
    "retention.history.timelines.post": HR_ADMIN,
    "retention.reports.cohorts": REPORTS,
    "retention.reports.fairness": REPORTS,
    "retention.reports.effect": REPORTS,
    # an unknown intervention: 404 for everyone (nothing to authorise against)
    "retention.intervention.outcome": (NF, NF, NF, NF, NF, NF, NF, NF, NF, NF),
}

P = "/api/v1/retention"
ROUTES: dict[str, tuple[str, str]] = {
    "retention.score.get": ("GET", f"{P}/people/{{employee_id}}/score"),
    "retention.explanation.get": ("GET", f"{P}/people/{{employee_id}}/explanation"),
    "retention.interventions.list": ("GET", f"{P}/people/{{employee_id}}/interventions"),
    "retention.interventions.post": ("POST", f"{P}/people/{{employee_id}}/interventions"),
    "retention.attributes.put": ("PUT", f"{P}/people/{{employee_id}}/attributes"),
    "retention.scores.list": ("GET", f"{P}/scores"),
    "retention.scores.refresh": ("POST", f"{P}/scores/refresh"),
    "retention.config.get": ("GET", f"{P}/config"),
    "retention.config.put": ("PUT", f"{P}/config"),
    "retention.models.train": ("POST", f"{P}/models/train"),
    "retention.models.list": ("GET", f"{P}/models"),
    "retention.models.run.get": ("GET", f"{P}/models/runs/{{run_id}}"),
    "retention.models.card.get": ("GET", f"{P}/models/{{version}}/card"),
    "retention.models.activate": ("POST", f"{P}/models/{{version}}/activate"),
    "retention.models.rollback": ("POST", f"{P}/models/rollback"),
    "retention.history.imports.post": ("POST", f"{P}/history/imports"),
    "retention.history.imports.list": ("GET", f"{P}/history/imports"),
    "retention.history.import.get": ("GET", f"{P}/history/imports/{{import_id}}"),
    "retention.history.timelines.post": ("POST", f"{P}/history/timelines"),
    "retention.reports.cohorts": ("GET", f"{P}/reports/cohorts"),
    "retention.reports.fairness": ("GET", f"{P}/reports/fairness"),
    "retention.reports.effect": ("GET", f"{P}/reports/effect"),
    "retention.intervention.outcome": ("POST", f"{P}/interventions/{{intervention_id}}/outcome"),
}


def request_for(endpoint: str, role: str, target_id: str | None) -> tuple[str, str, Any] | None:
    if not endpoint.startswith("retention."):
        return None
    tag = role.upper()
    bodies: dict[str, Any] = {
        "retention.interventions.post": {"kind": "check_in", "note": "矩阵测试"},
        "retention.attributes.put": {"gender": "undisclosed"},
        "retention.config.put": {},
        "retention.models.train": {"wait": True},
        "retention.history.imports.post": {
            "filename": "h.csv",
            "content_base64": "@@ not base64 @@",
            "mapping": {"numeric": ["a"], "label": "left"},
        },
        "retention.history.timelines.post": {
            "people": [{"employee_id": f"SX-RET-{tag}", "hired_on": "2026-01-05"}]
        },
        "retention.intervention.outcome": {"outcome": "stayed"},
    }
    values = {
        "employee_id": target_id or "",
        "run_id": NO_ID,
        "version": "999999",
        "import_id": NO_ID,
        "intervention_id": NO_ID,
    }
    method, template = ROUTES[endpoint]
    url = template.format(**values)
    return method, url, bodies.get(endpoint)


def seed(world: World) -> None:
    """Score the security company (the rules: no history there), so that the score cells
    find a score where they are allowed."""
    admin = world.client("admin")
    deadline = time.monotonic() + 60
    while True:
        r = admin.post(f"{P}/scores/refresh")
        assert r.status_code == 200, r.text
        if admin.get(f"{P}/people/{OTHER_MEMBER}/score").status_code == 200:
            return
        assert time.monotonic() < deadline, "the security company never reached retention"
        time.sleep(0.5)
