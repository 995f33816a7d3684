"""The retention loop end to end through the gateway, real processes: a person hired in the
directory reaches retention as an event; their learning and sales signals (an HR import)
make the early-warning rules put them in the high band with an alert; the manager records
an intervention; the person leaves in the directory (an event) and the outcome shows in the
effect report."""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]
SH = dt.timezone(dt.timedelta(hours=8))
P = "/api/v1/retention"


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_retention", Path(__file__).with_name("test_thin_slice.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _thin_slice().start_platform(tmp_path_factory.mktemp("retention"), "--no-demo")


def _until(fetch, done, seconds: float = 90.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_events_score_alert_intervention_outcome(platform: Any) -> None:
    admin = platform.admin()
    suffix = uuid.uuid4().hex[:6].upper()
    unit, rep = f"TR{suffix}", f"R{suffix}"
    today = dt.datetime.now(SH).date()
    hired = today - dt.timedelta(weeks=6)
    admin.put(
        f"/api/v1/directory/org-units/{unit}",
        json={"org_unit_id": unit, "name": "留存测试组 Retention team", "kind": "team"},
    ).raise_for_status()
    person = {
        "employee_id": rep,
        "name": "韩梅梅",
        "org_unit_id": unit,
        "job_role": "salesperson",
        "roles": ["salesperson"],
        "status": "probation",
        "hired_on": hired.isoformat(),
    }
    admin.put(f"/api/v1/directory/employees/{rep}", json=person).raise_for_status()
    signals = []
    for w in range(6):
        day = (hired + dt.timedelta(days=7 * w + 6)).isoformat()
        signals += [
            {"name": "training_completion", "value": 0.05 * (w + 1), "observed_on": day},
            {"name": "performance_growth", "value": 0.0, "observed_on": day},
            {"name": "mentor_rating", "value": 5.5, "observed_on": day},
        ]
    r = admin.post(
        f"{P}/history/timelines",
        json={"people": [{"employee_id": rep, "hired_on": hired.isoformat(), "signals": signals}]},
    )
    assert r.status_code == 200 and r.json()["people"] == 1, r.text

    def score() -> dict[str, Any]:
        assert admin.post(f"{P}/scores/refresh").status_code == 200
        got = admin.get(f"{P}/people/{rep}/score")
        return got.json() if got.status_code == 200 else {}

    # The directory's event gives retention the person's unit (the chain's visibility).
    s = _until(score, lambda s: s.get("band") == "high" and s.get("alerted_at"))
    assert s["band"] == "high" and s["basis"] == "rules" and s["alerted_at"], s
    assert "mentor_change" in {i["kind"] for i in s["interventions"]}

    iv = admin.post(
        f"{P}/people/{rep}/interventions", json={"kind": "mentor_change", "note": "换导师"}
    )
    assert iv.status_code == 201, iv.text
    assert iv.json()["band_at_time"] == "high"

    admin.put(
        f"/api/v1/directory/employees/{rep}", json={**person, "status": "left"}
    ).raise_for_status()
    listed = _until(
        lambda: admin.get(f"{P}/scores", params={"band": "high", "limit": 1000}).json()["items"],
        lambda items: (
            (admin.post(f"{P}/scores/refresh").status_code == 200)
            and rep not in {i["employee_id"] for i in items}
        ),
    )
    assert rep not in {i["employee_id"] for i in listed}  # left: no longer scored
    out = admin.post(
        f"{P}/interventions/{iv.json()['id']}/outcome", json={"outcome": "left", "note": "离职"}
    )
    assert out.status_code == 200 and out.json()["outcome"] == "left"
    effect = admin.get(f"{P}/reports/effect").json()
    assert effect["interventions"] >= 1
    kinds = {k["kind"]: k for k in effect["by_kind"]}
    assert kinds["mentor_change"]["left"] >= 1
    cohorts = admin.get(f"{P}/reports/cohorts", params={"by": "hire_month"}).json()
    month = next(i for i in cohorts["items"] if i["group"] == hired.strftime("%Y-%m"))
    assert month["left_in_probation"] >= 1
