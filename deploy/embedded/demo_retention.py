"""Retention demo data: a history of past new hires (the honest ground truth of
``zhanli_retention.core.generator``: leaving driven by noisy, partly hidden causes) imported
as timelines, weekly signals for the demo company's people in probation (some struggling),
a first model trained in the background, scores (alerts for the high band) and two
interventions. Loaded through the gateway like any integration."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import httpx

from zhanli_retention.core.generator import generate, timelines

SEED = 2026
TZ = dt.timezone(dt.timedelta(hours=8))


def _check(resp: httpx.Response) -> httpx.Response:
    if resp.status_code >= 400:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}"
        )
    return resp


def current_signals(p: dict[str, Any], today: dt.date, rnd: random.Random) -> dict[str, Any]:
    """Weekly signals since the hire: a third of them struggle (training behind, a low
    mentor rating, weeks without growth)."""
    hired = dt.date.fromisoformat(p["hired_on"])
    struggling = rnd.random() < 0.35
    signals: list[dict[str, Any]] = []
    completion = 0.0
    week = 0
    day = hired + dt.timedelta(days=6)
    while day < today:
        pace = 0.04 if struggling else 0.11
        completion = min(1.0, completion + max(0.0, rnd.gauss(pace, 0.02)))
        signals.append(
            {
                "name": "training_completion",
                "value": round(completion, 3),
                "observed_on": day.isoformat(),
            }
        )
        growth = 0.0 if struggling and rnd.random() < 0.8 else round(abs(rnd.gauss(0.04, 0.02)), 4)
        signals.append(
            {"name": "performance_growth", "value": growth, "observed_on": day.isoformat()}
        )
        if week % 2 == 1:
            rating = rnd.gauss(5.8 if struggling else 8.2, 0.7)
            signals.append(
                {
                    "name": "mentor_rating",
                    "value": round(max(1, min(10, rating)), 1),
                    "observed_on": day.isoformat(),
                }
            )
        week += 1
        day += dt.timedelta(days=7)
    match = rnd.gauss(58 if struggling else 74, 8)
    signals.append(
        {
            "name": "match_score",
            "value": round(max(0, min(100, match)), 1),
            "observed_on": hired.isoformat(),
        }
    )
    return {"employee_id": p["employee_id"], "hired_on": p["hired_on"], "signals": signals}


def load(http: httpx.Client, company: Any, progress: bool) -> dict[str, int]:
    rnd = random.Random(SEED)
    today = dt.datetime.now(TZ).date()
    past = generate(
        360,
        seed=SEED,
        observed_until=today - dt.timedelta(days=1),
        months=15,
        max_weeks=30,
        id_prefix="HIST",
    )
    body = timelines(past, ["G1", "HIST"])
    signals = 0
    for i in range(0, len(body), 180):
        out = _check(
            http.post("/api/v1/retention/history/timelines", json={"people": body[i : i + 180]})
        ).json()
        signals += out["signals"]
    probation = [p for p in company.people if p.get("status") == "probation"]
    current = [current_signals(p, today, rnd) for p in probation]
    if current:
        out = _check(
            http.post("/api/v1/retention/history/timelines", json={"people": current})
        ).json()
        signals += out["signals"]
    if progress:
        print(
            f"[zhanli] demo: retention history of {len(past)} people, {signals} signals", flush=True
        )
    # The first model trains in the background (it rescores everyone when it is done);
    # meanwhile the early-warning rules score people.
    run = _check(http.post("/api/v1/retention/models/train", json={"wait": False})).json()
    scored = _check(http.post("/api/v1/retention/scores/refresh")).json()
    high = _check(http.get("/api/v1/retention/scores", params={"band": "high", "limit": 5})).json()[
        "items"
    ]
    interventions = 0
    for s, kind in zip(high[:2], ("mentor_change", "coaching"), strict=False):
        _check(
            http.post(
                f"/api/v1/retention/people/{s['employee_id']}/interventions",
                json={"kind": kind, "note": "演示:试用期关怀 / demo: probation support"},
            )
        )
        interventions += 1
    if progress:
        print(
            f"[zhanli] demo: retention scored {scored['scored']} people "
            f"({scored['alerts']} alerts), training run {run['id']}",
            flush=True,
        )
    return {
        "retention_history_people": len(past),
        "retention_signals": signals,
        "retention_scored": scored["scored"],
        "retention_alerts": scored["alerts"],
        "retention_interventions": interventions,
    }
