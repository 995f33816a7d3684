"""Bootstrap from history: a real-shaped HRIS export (1,470 people, 35 columns, UTF-8, a
few messy rows) and a GBK survey export (是/否) train a model through the toolkit; bad
files and mappings are specific 422s naming the field, never a silently bad model."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from zhanli_shared.ml import synthetic

# Trainings on a busy 2-core machine: more than the default per-test timeout.
pytestmark = pytest.mark.timeout(600)
HR = ("hr-1", ["hr_admin"])
URL = "/api/v1/retention/history/imports"


def body(data: bytes, filename: str, mapping: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "filename": filename,
        "content_base64": base64.b64encode(data).decode(),
        "mapping": mapping,
        **extra,
    }


IBM = {
    "numeric": synthetic.IBM_NUMERIC,
    "categorical": synthetic.IBM_CATEGORICAL,
    "label": "Attrition",
    "id": "EmployeeNumber",
    "protected": synthetic.IBM_PROTECTED,
}


async def test_hris_export_trains_with_a_report_and_a_baseline(retention) -> None:
    r = await retention.client.post(
        URL,
        json=body(synthetic.ibm_attrition_csv(1470), "hr_export.csv", IBM),
        headers=retention.auth(*HR),
    )
    assert r.status_code == 201, r.text
    out = r.json()
    report = out["report"]["import"]
    assert report["rows_read"] == 1470 and 0 < report["rows_rejected"] < 10
    assert report["rows_accepted"] + report["rows_rejected"] == 1470
    assert report["rejection_counts"]  # why: a non-number, a duplicate id
    metrics = out["report"]["metrics"]
    for key in ("model", "baseline"):
        assert 0.6 < metrics[key]["roc_auc"] < 0.97 and 0 < metrics[key]["brier"] < 0.2
    assert out["report"]["validation"]["scheme"] == "stratified"
    assert out["model_name"] == "retention.history" and out["model_version"] >= 1
    assert out["activated"] == out["report"]["decision"]["activate"]
    got = await retention.client.get(f"{URL}/{out['id']}", headers=retention.auth("b", ["hr_bp"]))
    assert got.status_code == 200 and got.json()["id"] == out["id"]


async def test_gbk_survey_export_with_chinese_labels(retention) -> None:
    cols = synthetic.SURVEY_COLUMNS
    mapping = {
        "categorical": cols[1:8],
        "label": "是否离职",
        "positive_values": ["是"],
        "negative_values": ["否"],
        "id": "工号",
        "protected": ["性别", "年龄段"],
    }
    r = await retention.client.post(
        URL, json=body(synthetic.survey_csv(3000), "调查.csv", mapping), headers=retention.auth(*HR)
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["report"]["import"]["encoding"].lower() in ("gbk", "gb18030")
    assert out["report"]["import"]["rows_accepted"] == 3000
    assert 0.6 < out["report"]["metrics"]["model"]["roc_auc"] < 0.97


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        ("leaky_name", "mapping.categorical", "ExitReason"),
        ("protected", "mapping.numeric", "protected"),
        ("missing_column", "mapping.numeric", "not in the file"),
        ("constant_label", "mapping.label", ""),
        ("too_few_rows", "", ""),
        ("not_base64", "content_base64", "base64"),
        ("wrong_type", "file", ""),
    ],
)
async def test_bad_imports_are_specific_problems(
    retention, case: str, field: str, words: str
) -> None:
    rows = synthetic.ibm_attrition_rows(300, seed=3)
    mapping: dict[str, Any] = {
        "numeric": ["MonthlyIncome", "DistanceFromHome"],
        "label": "Attrition",
    }
    filename = "h.csv"
    if case == "leaky_name":
        for row in rows:
            row["ExitReason"] = "pay" if row["Attrition"] == "Yes" else ""
        mapping["categorical"] = ["ExitReason"]
    elif case == "protected":
        mapping["numeric"] = ["Age", "MonthlyIncome"]
    elif case == "missing_column":
        mapping["numeric"] = ["MonthlyIncomeX"]
    elif case == "constant_label":
        for row in rows:
            row["Attrition"] = "No"
    elif case == "too_few_rows":
        rows = rows[:12]
    elif case == "wrong_type":
        filename = "h.xlsx"
    header = list(rows[0])
    text = ",".join(header) + "\n" + "\n".join(",".join(str(r[h]) for h in header) for r in rows)
    payload = body(text.encode(), filename, mapping)
    if case == "not_base64":
        payload["content_base64"] = "@@not base64@@"
    r = await retention.client.post(URL, json=payload, headers=retention.auth(*HR))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    if field:
        assert problem["errors"][0]["field"] == field, problem
    assert words in problem["detail"], problem
    assert (
        await retention.client.post(URL, json=payload, headers=retention.auth("b", ["hr_bp"]))
    ).status_code == 403
