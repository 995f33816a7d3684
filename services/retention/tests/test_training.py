"""Training through the toolkit on the demo ground truth (history imported as timelines):
a deterministic, calibrated hazard model validated on later hire cohorts against the
logistic baseline and the rules, stored with its card, activated only if it beats the
rules, rolled back to the rules; scores then come from the model."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest

from zhanli_retention.core.generator import generate, timelines
from zhanli_shared.events.contracts.directory import EmployeeUpserted, EmploymentStatus
from zhanli_shared.testing.plugin import eventually

# Trainings on a busy 2-core machine: more than the default per-test timeout.
pytestmark = pytest.mark.timeout(600)
HR = ("hr-1", ["hr_admin"])


def today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()


async def test_train_activate_score_and_roll_back(retention) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}"
    people = generate(
        600,
        seed=11,
        observed_until=today() - dt.timedelta(days=1),
        months=15,
        max_weeks=30,
        id_prefix=prefix,
    )
    body = timelines(people, ["root", "u-train"])
    h = retention.auth(*HR)
    for i in range(0, len(body), 300):
        r = await retention.client.post(
            "/api/v1/retention/history/timelines", json={"people": body[i : i + 300]}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == []
    bad = [{**body[0], "employee_id": f"{prefix}-bad", "left_on": "2000-01-01"}]
    r = await retention.client.post(
        "/api/v1/retention/history/timelines", json={"people": bad}, headers=h
    )
    assert r.json()["people"] == 0 and "before hired_on" in r.json()["rejected"][0]["reason"]

    r = await retention.client.post(
        "/api/v1/retention/models/train", json={"wait": True}, headers=h
    )
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "done", run
    metrics = run["result"]["metrics"]
    for key in ("model", "baseline", "rules"):
        assert 0.5 < metrics[key]["roc_auc"] < 0.95, (key, metrics[key])  # honest: no leak
    assert metrics["model"]["brier"] < metrics["model"]["positives"] / metrics["model"]["n"]
    assert run["result"]["summary"]["validation"]["scheme"] == "later"
    decision = run["result"]["decision"]
    assert run["activated"] == decision["activate"]
    assert decision["activate"] is True, decision  # this seed: the model beats the rules

    card = (
        await retention.client.get(
            f"/api/v1/retention/models/{run['model_version']}/card", headers=h
        )
    ).json()
    assert card["card"]["validation"]["scheme"] == "later"
    assert "PIPL" in card["markdown"] or "Art. 24" in card["markdown"]
    assert all(f["name"] not in ("gender", "age_band") for f in card["card"]["features"])

    # Scores now come from the model, for the directory's people (history alone is not
    # scored): calibrated risks growing with the horizon.
    alive = next(p for p in people if p.left_on is None)
    await retention.publish(
        EmployeeUpserted(
            employee_id=alive.employee_id,
            name="王芳",
            org_unit_id="u-train",
            org_path=["root", "u-train"],
            job_role="salesperson",
            status=EmploymentStatus.PROBATION,
            hired_on=alive.hired_on,
        )
    )

    async def scored():  # type: ignore[no-untyped-def]
        r = await retention.client.post("/api/v1/retention/scores/refresh", headers=h)
        assert r.json()["basis"] == "model"
        got = await retention.client.get(
            f"/api/v1/retention/people/{alive.employee_id}/score", headers=h
        )
        return got.json() if got.status_code == 200 else None

    s = await eventually(scored, timeout_s=90)
    assert s["basis"] == "model" and 0 < s["risk_30"] <= s["risk_60"] <= s["risk_90"] < 1
    assert s["factors"] and all(f["contribution"] > 0 for f in s["factors"])

    # Trained again on the same history: the same rows, the same validation, the same quality.
    # (Bit-for-bit equality of the same data is the toolkit's test, shared/tests: here the
    # service's own refresh may add a dated fact between the two trainings, and one CI run on
    # PostgreSQL saw PR-AUC 0.13970 against 0.13956.)
    r = await retention.client.post(
        "/api/v1/retention/models/train", json={"wait": True}, headers=h
    )
    again = r.json()
    m = again["result"]["metrics"]["model"]
    assert (m["n"], m["positives"]) == (metrics["model"]["n"], metrics["model"]["positives"])
    for key in ("roc_auc", "pr_auc", "brier"):
        assert abs(m[key] - metrics["model"][key]) < 0.01, (key, m[key], metrics["model"])

    # Roll back twice: to version 1, then to the rules.
    r = await retention.client.post("/api/v1/retention/models/rollback", headers=h)
    assert r.json()["active_version"] == run["model_version"]
    r = await retention.client.post("/api/v1/retention/models/rollback", headers=h)
    assert r.json()["basis"] == "rules" and r.json()["active_version"] is None
    r = await retention.client.post(
        f"/api/v1/retention/models/{again['model_version']}/activate", headers=h
    )
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert (
        await retention.client.post(
            f"/api/v1/retention/models/{run['model_version']}/activate",
            headers=retention.auth("b", ["hr_bp"]),
        )
    ).status_code == 403
    cohorts = (
        await retention.client.get("/api/v1/retention/reports/cohorts?by=training_band", headers=h)
    ).json()
    bands = {row["group"]: row for row in cohorts["items"]}
    assert bands[">90%"]["probation_retention"] > bands["<70%"]["probation_retention"]
