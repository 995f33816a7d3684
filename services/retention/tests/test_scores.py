"""The loop on the rules (no model yet): events in, scores with factors and interventions,
an alert event on entering the high band, visibility (HR, the chain, never peers; the
person sees the explanation), interventions with the risk at the time, reports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zoneinfo
from decimal import Decimal

from sqlalchemy import select

from zhanli_shared.events.contracts.directory import EmployeeUpserted, EmploymentStatus
from zhanli_shared.events.contracts.kpi import PerformanceGrowthMeasured
from zhanli_shared.events.contracts.learning import MentorRated, TrainingProgressed
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about

HR = ("hr-1", ["hr_admin"])
ALERT = "zhanli.retention.risk_alert_raised.v1"


def today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()


async def hire(svc, eid: str, unit: str, weeks_ago: int) -> None:
    await svc.publish(
        EmployeeUpserted(
            employee_id=eid,
            name="李雷",
            org_unit_id=unit,
            org_path=["root", unit],
            manager_id=f"mgr-{unit}",
            job_role="salesperson",
            status=EmploymentStatus.PROBATION,
            hired_on=today() - dt.timedelta(weeks=weeks_ago),
        )
    )


async def struggling(svc, eid: str) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    await svc.publish(
        TrainingProgressed(
            employee_id=eid,
            path_id="p1",
            course_id="c1",
            status="completed",
            completion_rate=Decimal("0.4"),
            completed_courses=2,
            total_courses=5,
            overdue_count=2,
            occurred_at=now,
        )
    )
    await svc.publish(
        MentorRated(
            mentor_id="mentor-1",
            mentee_id=eid,
            week="2026-W47",
            rating=5,
            average=Decimal("5"),
            flagged=True,
            rated_at=now,
        )
    )
    for d in range(1, 16):
        await svc.publish(
            PerformanceGrowthMeasured(
                employee_id=eid,
                day=today() - dt.timedelta(days=d),
                growth=Decimal("0"),
                measured_at=now,
            )
        )


async def test_rules_score_alert_visibility_and_interventions(retention) -> None:
    unit, other = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    bad, fine = f"e-{uuid.uuid4().hex[:10]}", f"e-{uuid.uuid4().hex[:10]}"
    await hire(retention, bad, unit, 5)
    await hire(retention, fine, unit, 5)
    await struggling(retention, bad)

    async def landed():
        r = await retention.client.post(
            "/api/v1/retention/scores/refresh", headers=retention.auth(*HR)
        )
        assert r.status_code == 200, r.text
        got = await retention.client.get(
            f"/api/v1/retention/people/{bad}/score", headers=retention.auth(*HR)
        )
        return got.json() if got.status_code == 200 and got.json()["band"] == "high" else None

    score = await eventually(landed, timeout_s=90)
    assert score["basis"] == "rules" and "rules" in score["basis_reason"]
    assert score["risk_90"] is None  # the rules rank, they give no probability
    assert set(score["rules_fired"]) == {"training_completion", "mentor_rating", "zero_growth"}
    assert {f["feature"] for f in score["factors"]} == {
        "training_completion",
        "mentor_rating",
        "zero_growth_weeks",
    }
    assert {i["kind"] for i in score["interventions"]} >= {"training_plan", "mentor_change"}

    # The alert, once: a second refresh does not raise it again.
    await retention.client.post("/api/v1/retention/scores/refresh", headers=retention.auth(*HR))
    outbox = retention.runtime.tables.outbox
    async with retention.runtime.sessions() as s:
        alerts = await outbox_rows_about(s, outbox, bad, topic=ALERT)
        payloads = (
            (await s.execute(select(outbox.c.payload).where(outbox.c.event_id == alerts[0][0])))
            .scalars()
            .all()
        )
    assert len(alerts) == 1
    payload = json.loads(payloads[0])["data"]
    assert payload["band"] == "high" and payload["manager_id"] == f"mgr-{unit}"
    fine_score = (
        await retention.client.get(
            f"/api/v1/retention/people/{fine}/score", headers=retention.auth(*HR)
        )
    ).json()
    assert fine_score["band"] == "low" and fine_score["rules_fired"] == []

    # Who sees it: HR and the chain; not a peer, not another unit's manager, not finance.
    path = f"/api/v1/retention/people/{bad}/score"
    assert (
        await retention.client.get(path, headers=retention.auth("m", ["sales_manager"], [unit]))
    ).status_code == 200
    assert (
        await retention.client.get(path, headers=retention.auth("m2", ["sales_manager"], [other]))
    ).status_code == 403
    assert (
        await retention.client.get(path, headers=retention.auth(fine, ["salesperson"]))
    ).status_code == 403
    assert (
        await retention.client.get(path, headers=retention.auth("f", ["finance"]))
    ).status_code == 403
    assert (
        await retention.client.get(path, headers=retention.auth(bad, ["salesperson"]))
    ).status_code == 403
    # ... and the person reads the explanation of their own score.
    ex = await retention.client.get(
        f"/api/v1/retention/people/{bad}/explanation", headers=retention.auth(bad, ["salesperson"])
    )
    assert ex.status_code == 200 and "PIPL" in ex.json()["rights_en"]
    assert (
        await retention.client.get(
            f"/api/v1/retention/people/{bad}/explanation",
            headers=retention.auth(fine, ["salesperson"]),
        )
    ).status_code == 403
    listed = await retention.client.get(
        "/api/v1/retention/scores?band=high", headers=retention.auth("m", ["sales_manager"], [unit])
    )
    assert [s["employee_id"] for s in listed.json()["items"]] == [bad]

    # An intervention by the manager keeps the band at the time; HR records the outcome.
    r = await retention.client.post(
        f"/api/v1/retention/people/{bad}/interventions",
        json={"kind": "mentor_change", "note": "换导师"},
        headers=retention.auth("m", ["sales_manager"], [unit]),
    )
    assert r.status_code == 201, r.text
    iv = r.json()
    assert (
        iv["band_at_time"] == "high"
        and iv["basis_at_time"] == "rules"
        and iv["outcome"] == "pending"
    )
    r = await retention.client.post(
        f"/api/v1/retention/interventions/{iv['id']}/outcome",
        json={"outcome": "stayed", "note": "转正"},
        headers=retention.auth(*HR),
    )
    assert r.status_code == 200 and r.json()["outcome"] == "stayed"
    assert (
        await retention.client.post(
            f"/api/v1/retention/people/{bad}/interventions",
            json={"kind": "coaching"},
            headers=retention.auth(fine, ["salesperson"]),
        )
    ).status_code == 403
    assert (
        await retention.client.post(
            f"/api/v1/retention/people/{bad}/interventions",
            json={"kind": "bribe"},
            headers=retention.auth(*HR),
        )
    ).status_code == 422
    items = (
        await retention.client.get(
            f"/api/v1/retention/people/{bad}/interventions", headers=retention.auth(*HR)
        )
    ).json()["items"]
    assert [i["id"] for i in items] == [iv["id"]]
    effect = await retention.client.get(
        "/api/v1/retention/reports/effect", headers=retention.auth(*HR)
    )
    assert effect.status_code == 200 and effect.json()["interventions"] >= 1


async def test_too_little_history_keeps_the_rules_and_says_why(retention) -> None:
    r = await retention.client.post(
        "/api/v1/retention/models/train", json={"wait": True}, headers=retention.auth(*HR)
    )
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "insufficient" and run["result"]["reason"]
    assert run["model_version"] is None
    got = await retention.client.get(
        f"/api/v1/retention/models/runs/{run['id']}", headers=retention.auth(*HR)
    )
    assert got.json()["status"] == "insufficient"
    models = (
        await retention.client.get("/api/v1/retention/models", headers=retention.auth(*HR))
    ).json()
    assert models["basis"] == "rules" and "Too little history" in models["basis_reason"]
    assert (
        await retention.client.post(
            "/api/v1/retention/models/rollback", headers=retention.auth(*HR)
        )
    ).status_code == 409
    assert (
        await retention.client.post(
            "/api/v1/retention/models/train", json={}, headers=retention.auth("s", ["salesperson"])
        )
    ).status_code == 403


async def test_config_validates_and_reports_export(retention) -> None:
    h = retention.auth(*HR)
    bad = {"bands": {"medium_from": 0.5, "high_from": 0.4}}
    assert (
        await retention.client.put("/api/v1/retention/config", json=bad, headers=h)
    ).status_code == 422
    cfg = (await retention.client.get("/api/v1/retention/config", headers=h)).json()
    assert cfg["rules"]["training_completion_below"] == 0.8
    assert (
        await retention.client.put(
            "/api/v1/retention/config", json=cfg, headers=retention.auth("b", ["hr_bp"])
        )
    ).status_code == 403
    # HR's admin changes a threshold: saved, audited (decimals), read back; then the default
    # again (an empty body is every default)
    cfg["rules"]["training_completion_below"] = 0.75
    r = await retention.client.put("/api/v1/retention/config", json=cfg, headers=h)
    assert r.status_code == 200, r.text
    got = (await retention.client.get("/api/v1/retention/config", headers=h)).json()
    assert got["rules"]["training_completion_below"] == 0.75
    r = await retention.client.put("/api/v1/retention/config", json={}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["training_completion_below"] == 0.8
    r = await retention.client.get(
        "/api/v1/retention/reports/cohorts?by=hire_month&format=csv", headers=h
    )
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert header[0] == "分组 group"
    r = await retention.client.get(
        "/api/v1/retention/reports/cohorts?by=mentor&format=xlsx", headers=h
    )
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None and ws.cell(1, 7).value == "试用期留存率 probation_retention"
    fair = (await retention.client.get("/api/v1/retention/reports/fairness", headers=h)).json()
    assert fair["kind"] == "flag" and "four" in fair["note"].lower()
    assert (
        await retention.client.get(
            "/api/v1/retention/reports/fairness", headers=retention.auth("s", ["salesperson"])
        )
    ).status_code == 403
