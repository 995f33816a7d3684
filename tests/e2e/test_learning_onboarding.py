"""Onboarding end to end with real processes (the embedded supervisor: Tansu, every service,
the gateway): a probation hire entered in the directory gets a learning path and a mentor,
the mentor's week of three tasks appears on their workbench, and a re-assessment that
improves the hire's skills by more than 10 % lowers their probation target on the
commission statement (learning -> zhanli.learning.skill_improvement_measured.v1 ->
commission), all through the gateway."""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_learning", Path(__file__).with_name("test_thin_slice.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _until(fetch, done, seconds: float = 90.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds  # generous: a busy machine
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _thin_slice().start_platform(tmp_path_factory.mktemp("learning"), "--no-demo")


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def test_a_hire_gets_a_path_a_mentor_and_a_reassessment_lowers_the_target(platform) -> None:
    admin = platform.admin()
    tag = uuid.uuid4().hex[:6]
    team, rep, mentor = f"TL{tag}", f"E{tag.upper()}", f"M{tag.upper()}"
    today = dt.date.today()
    _ok(
        admin.put(
            f"/api/v1/directory/org-units/{team}",
            json={"org_unit_id": team, "name": "新人培养组 Onboarding team", "kind": "team"},
        )
    )
    # the catalogue: four skills, a family profile, a few courses with prerequisites
    skills = {
        "sales": "销售技巧",
        "industry": "行业知识",
        "product": "产品知识",
        "online": "线上沟通",
    }
    for key, zh in skills.items():
        _ok(
            admin.put(
                f"/api/v1/learning/skills/{key}-{tag}",
                json={"name_zh": zh, "name_en": key, "category": "sales_skills"},
            )
        )
    family = f"sales{tag}"
    _ok(
        admin.put(
            f"/api/v1/learning/job-families/{family}",
            json={
                "name_zh": "电商销售",
                "name_en": "E-commerce sales",
                "required_levels": {f"{k}-{tag}": 60 for k in skills},
            },
        )
    )
    courses = [
        ("S1", "销售基础", {"sales": 40}, []),
        ("S2", "谈判技巧", {"sales": 30}, ["S1"]),
        ("I1", "行业知识", {"industry": 60}, []),
        ("P1", "产品知识", {"product": 60}, []),
        ("O1", "线上沟通", {"online": 60}, []),
    ]
    for cid, zh, gains, pre in courses:
        _ok(
            admin.put(
                f"/api/v1/learning/courses/{cid}-{tag}",
                json={
                    "title_zh": zh,
                    "title_en": cid,
                    "duration_minutes": 120,
                    "skills": {f"{k}-{tag}": v for k, v in gains.items()},
                    "prerequisites": [f"{p}-{tag}" for p in pre],
                },
            )
        )
    # a mentor in the team, then the hire (in probation, hired ~40 days ago)
    hired_on = today - dt.timedelta(days=40)
    for emp, name, status, role in (
        (mentor, "王师傅", "active", "salesperson"),
        (rep, "赵新", "probation", family),
    ):
        _ok(
            admin.put(
                f"/api/v1/directory/employees/{emp}",
                json={
                    "employee_id": emp,
                    "name": name,
                    "org_unit_id": team,
                    "job_role": role,
                    "roles": ["salesperson"],
                    "status": status,
                    "hired_on": hired_on.isoformat() if emp == rep else "2024-03-01",
                },
            )
        )
    # the mentor is registered once the directory reached the learning service
    r = _until(
        lambda: admin.put(f"/api/v1/learning/mentors/{mentor}", json={"capacity": 3}),
        lambda r: r.status_code == 200,
    )
    assert r.status_code == 200, r.text
    # the path: planned by itself from the directory's probation event
    path = _until(
        lambda: admin.get(f"/api/v1/learning/people/{rep}/path"), lambda r: r.status_code == 200
    )
    assert path.status_code == 200, path.text
    ids = [i["course_id"] for i in path.json()["items"]]
    assert ids.index(f"S1-{tag}") < ids.index(f"S2-{tag}")
    # the hire event may have been applied before the mentor existed: HR assigns then
    if admin.get(f"/api/v1/learning/people/{rep}/mentor").status_code == 404:
        _ok(admin.post(f"/api/v1/learning/people/{rep}/mentor", json={"mentor_id": mentor}))
    for user, emp, roles in (
        (rep.lower(), rep, ["salesperson"]),
        (mentor.lower(), mentor, ["salesperson", "mentor"]),
    ):
        _ok(
            admin.post(
                "/api/v1/auth/users",
                json={
                    "username": user,
                    "password": "learning-1",
                    "employee_id": emp,
                    "roles": roles,
                },
            )
        )
    as_mentor = httpx.Client(
        base_url=platform.base,
        timeout=10,
        headers={"authorization": "Bearer " + platform.token(mentor.lower(), "learning-1")},
    )
    bench = _ok(as_mentor.get(f"/api/v1/learning/mentors/{mentor}/workbench"))
    (mentee,) = [m for m in bench["mentees"] if m["employee_id"] == rep]
    assert sorted(t["kind"] for t in mentee["tasks"]) == [
        "client_visit",
        "performance_talk",
        "review_coaching",
    ]
    # the mobile views through the gateway's /me
    me = httpx.Client(
        base_url=platform.base,
        timeout=10,
        headers={"authorization": "Bearer " + platform.token(rep.lower(), "learning-1")},
    )
    mine = _ok(me.get("/api/v1/me/learning"))
    assert (
        mine["employee_id"] == rep and mine["day"] == 41 and mine["mentor"]["employee_id"] == mentor
    )
    assert _ok(as_mentor.get("/api/v1/me/mentoring"))["mentor_id"] == mentor
    # a probation plan on the commission side
    plan_id = f"PL{tag}"
    fin = admin
    _ok(
        fin.post(
            "/api/v1/commission/plans",
            json={
                "plan_id": plan_id,
                "name": "试用期提成 Probation plan",
                "version": {
                    "effective_from": "2026-01",
                    "rules": {"tier_mode": "flat", "rate": "0.03", "probation": {}},
                },
            },
        )
    )
    _ok(
        fin.post(
            "/api/v1/commission/plan-assignments",
            json={
                "plan_id": plan_id,
                "target_type": "person",
                "target_id": rep,
                "effective_from": "2026-01",
            },
        )
    )
    # baseline last week, re-assessment today: (60+45+50+40)/(40+30+50+30) - 1 = 30 %
    monday = today - dt.timedelta(days=today.weekday())
    for day, scores in (
        (monday - dt.timedelta(days=3), {"sales": 40, "industry": 30, "product": 50, "online": 30}),
        (today, {"sales": 60, "industry": 45, "online": 40}),
    ):
        result = _ok(
            admin.post(
                f"/api/v1/learning/people/{rep}/assessments",
                json={
                    "kind": "initial" if day < monday else "reassessment",
                    "assessed_on": day.isoformat(),
                    "scores": [{"skill_id": f"{k}-{tag}", "score": v} for k, v in scores.items()],
                },
            )
        )
    assert float(result["improvement"]) > 0.10
    year, week = result["week"].split("-W")
    thursday = dt.date.fromisocalendar(int(year), int(week), 4)
    period = f"{thursday:%Y-%m}"
    statement = _until(
        lambda: me.get(f"/api/v1/commission/people/{rep}/statement?period={period}").json(),
        lambda s: (s.get("probation") or {}).get("adjustment") == "lowered",
    )
    probation = statement["probation"]
    assert probation["adjustment"] == "lowered" and probation["target_deals"] == 2, statement
