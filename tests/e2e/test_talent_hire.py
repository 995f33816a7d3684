"""Recruiting end to end with real processes (the embedded supervisor: Tansu, every
service, the gateway): a GBK resume uploaded through the gateway is scored with its
reasons, the candidate moves through the pipeline to hired, and the directory (the people
service, from zhanli.talent.candidate_hired.v1) shows the person in probation."""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]

RESUME = (
    "张伟 个人简历\n五年货代销售经验，擅长拓客与开拓客户，负责华东区大客户销售。\n"
    "2024 年业绩增长 40%，超额完成年度指标；客户资源丰富，订单转化能力强。善于倾听客户需求。"
)


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_talent", Path(__file__).with_name("test_thin_slice.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _thin_slice().start_platform(tmp_path_factory.mktemp("talent"), "--no-demo")


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def test_gbk_resume_scored_then_hired_person_in_probation(platform) -> None:
    admin = platform.admin()
    tag = uuid.uuid4().hex[:6]
    team, manager, hire_id = f"TT{tag}", f"M{tag.upper()}", f"E{tag.upper()}"
    family = f"freight_{tag}"
    _ok(
        admin.put(
            f"/api/v1/directory/org-units/{team}",
            json={"org_unit_id": team, "name": "货代销售组", "kind": "team"},
        )
    )
    _ok(
        admin.put(
            f"/api/v1/directory/employees/{manager}",
            json={
                "employee_id": manager,
                "name": "王经理",
                "org_unit_id": team,
                "job_role": "sales_manager",
                "roles": ["sales_manager"],
            },
        )
    )
    _ok(
        admin.put(
            f"/api/v1/talent/profiles/{family}",
            json={
                "name": "货代销售",
                "keywords": [
                    {"keyword": "客户开发", "weight": 2},
                    {"keyword": "货代销售经验", "weight": 2},
                    {"keyword": "业绩增长", "weight": 1},
                ],
                "traits": [{"name": "sales_simulation", "weight": 1, "threshold": 70}],
            },
        )
    )
    req = _ok(
        admin.post(
            "/api/v1/talent/requisitions",
            json={
                "title": "货代销售经理",
                "job_family": family,
                "org_unit_id": team,
                "hiring_manager_ids": [manager],
            },
        )
    )["id"]
    cand = _ok(
        admin.post("/api/v1/talent/candidates", json={"name": "张伟", "phone": "13912340000"})
    )["id"]
    upload = _ok(
        admin.put(
            f"/api/v1/talent/candidates/{cand}/resume",
            params={"filename": "张伟简历.txt"},
            content=RESUME.encode("gbk"),
            headers={"content-type": "text/plain"},
        )
    )
    assert upload["encoding"] == "gbk" and "客户开发" in upload["skills"]
    app = _ok(
        admin.post(f"/api/v1/talent/requisitions/{req}/applications", json={"candidate_id": cand})
    )
    assert app["score"] is not None and app["pool"] in ("elimination", "review", "focus")
    reasons = app["explanation"]
    assert (
        "客户开发" in reasons["keywords_matched"] and "货代销售经验" in reasons["keywords_matched"]
    )
    assert reasons["reasons_up"] and reasons["traits_missing"] == ["sales_simulation"]
    for stage in ("screened", "interview", "offer"):
        _ok(admin.post(f"/api/v1/talent/applications/{app['id']}/transitions", json={"to": stage}))
    hired = _ok(
        admin.post(
            f"/api/v1/talent/applications/{app['id']}/hire",
            json={"employee_id": hire_id, "hired_on": time.strftime("%Y-%m-%d")},
        )
    )
    assert hired["stage"] == "hired"
    deadline = time.monotonic() + 90  # generous: a busy machine
    while True:
        r = admin.get(f"/api/v1/directory/employees/{hire_id}")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    person = _ok(r)
    assert person["status"] == "probation" and person["org_unit_id"] == team
    assert person["manager_id"] == manager and person["name"] == "张伟"
