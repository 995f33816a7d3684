"""Bootstrap the learned component from an export of past candidates (XLSX, Chinese
headers), blended into live scores; bad imports refused naming the field."""

from __future__ import annotations

import base64
import csv
import io
import uuid

from zhanli_shared.ml import synthetic
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.services import RunningService

HR = ("hr1", ["hr_admin"])
MAPPING = {
    "numeric": synthetic.CANDIDATE_NUMERIC,
    "categorical": synthetic.CANDIDATE_CATEGORICAL,
    "label": "录用后留任",
    "id": "候选人编号",
    "protected": ["性别", "年龄"],
}
TRAITS = {
    "情景模拟得分": "sales_simulation",
    "面试评分": "interview.overall",
    "抗压测评": "stress_resilience",
    "学习能力测评": "learning_ability",
    "来源渠道": "source",
}
PROFILE = {
    "name": "B2B SaaS 销售",
    "keywords": [{"keyword": "客户开发", "weight": 1}],
    "traits": [{"name": "sales_simulation", "weight": 1, "threshold": 70}],
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_bootstrap_from_history_then_blended_into_scores(talent: RunningService) -> None:
    svc = talent
    fam = f"fam_{uuid.uuid4().hex[:8]}"
    hr = svc.auth(*HR)
    url = f"/api/v1/talent/models/{fam}/imports"
    body = {
        "filename": "历史候选人.xlsx",
        "content_base64": _b64(synthetic.candidates_xlsx(1000)),
        "mapping": MAPPING,
        "feature_traits": TRAITS,
    }
    no_profile = await svc.client.post(url, json=body, headers=hr)
    assert no_profile.status_code == 422
    assert no_profile.json()["errors"][0]["field"] == "job_family"
    await svc.client.put(f"/api/v1/talent/profiles/{fam}", json=PROFILE, headers=hr)
    r = await svc.client.post(url, json=body, headers=hr)
    assert r.status_code == 200, r.text
    out = r.json()
    metrics = out["model"]["metrics"]
    assert 0.6 < metrics["model"]["roc_auc"] < 0.95
    assert 0.6 < metrics["baseline"]["roc_auc"] < 0.95
    assert metrics["model"]["brier"] < 0.25
    assert out["activated"] == out["decision"]["activate"]
    assert out["fairness"] is not None and out["card"]["intended_use"]
    assert out["import_report"]["rows_accepted"] >= 990
    if not out["activated"]:
        return  # the bar was not passed on this draw: nothing is blended in
    assert out["profile_version"] == 2
    cid = (
        await svc.client.post(
            "/api/v1/talent/candidates",
            json={"name": "陈", "resume_text": "客户开发", "source": "内推"},
            headers=hr,
        )
    ).json()["id"]
    await svc.client.post(
        f"/api/v1/talent/candidates/{cid}/assessments",
        json={"kind": "sales_simulation", "score": 80, "taken_on": "2026-12-01"},
        headers=hr,
    )
    req = (
        await svc.client.post(
            "/api/v1/talent/requisitions",
            json={
                "title": "SaaS",
                "job_family": fam,
                "org_unit_id": "T1",
                "hiring_manager_ids": ["M1"],
            },
            headers=hr,
        )
    ).json()["id"]
    app = (
        await svc.client.post(
            f"/api/v1/talent/requisitions/{req}/applications",
            json={"candidate_id": cid},
            headers=hr,
        )
    ).json()
    assert 0 < app["learned_probability"] < 1
    assert app["explanation"]["model_version"] == out["model"]["version"]
    assert any(
        r["kind"] == "learned"
        for r in app["explanation"]["reasons_up"] + app["explanation"]["reasons_down"]
    )
    card = await svc.client.get(
        f"/api/v1/talent/models/{fam}/versions/{out['model']['version']}/card", headers=hr
    )
    assert card.status_code == 200 and card.json()["markdown"]
    back = await svc.client.post(f"/api/v1/talent/models/{fam}/rollback", headers=hr)
    assert back.status_code == 200 and back.json() is None

    async def rules_only():
        a = await svc.client.get(f"/api/v1/talent/applications/{app['id']}", headers=hr)
        return a.json()["learned_probability"] is None or None

    # a new resume re-scores the application: without an active model, rules alone
    await svc.client.put(
        f"/api/v1/talent/candidates/{cid}/resume",
        params={"filename": "a.txt"},
        content="客户开发 客户开发".encode(),
        headers=hr,
    )
    await eventually(rules_only)


async def test_bad_history_imports_are_refused_naming_the_field(talent: RunningService) -> None:
    svc = talent
    fam = f"fam_{uuid.uuid4().hex[:8]}"
    hr = svc.auth(*HR)
    await svc.client.put(f"/api/v1/talent/profiles/{fam}", json=PROFILE, headers=hr)
    url = f"/api/v1/talent/models/{fam}/imports"

    def csv_bytes(rows: list[list[object]], encoding: str = "gbk") -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["编号", "笔试成绩", "录用后留任"])
        writer.writerows(rows)
        return _b64(buf.getvalue().encode(encoding))

    base = {"filename": "h.csv", "mapping": {"numeric": ["笔试成绩"], "label": "录用后留任"}}
    constant = [[i, 50 + i % 30, "是"] for i in range(200)]
    r = await svc.client.post(url, json=base | {"content_base64": csv_bytes(constant)}, headers=hr)
    assert r.status_code == 422, r.text
    few = [[i, 50 + i, "是" if i % 2 else "否"] for i in range(8)]
    r = await svc.client.post(url, json=base | {"content_base64": csv_bytes(few)}, headers=hr)
    assert r.status_code == 422, r.text
    leaky = {"filename": "h.csv", "mapping": {"numeric": ["录用后留任"], "label": "编号"}}
    r = await svc.client.post(url, json=leaky | {"content_base64": csv_bytes(few)}, headers=hr)
    assert r.status_code == 422
    r = await svc.client.post(url, json=base | {"content_base64": "@@not base64@@"}, headers=hr)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content_base64"
    seller = await svc.client.post(
        url, json=base | {"content_base64": csv_bytes(few)}, headers=svc.auth("S", ["recruiter"])
    )
    assert seller.status_code == 403
