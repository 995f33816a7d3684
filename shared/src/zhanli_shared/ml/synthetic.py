"""Synthetic files shaped like real HR exports, with honest ground truth: outcomes drawn from
noisy, partly hidden causes (a latent trait that no column records), so a near-perfect
score means a leak, not a good model. For tests, demo data and benches; never for training
a production model.

- ``ibm_attrition_csv(n=1470)``: the 35 columns of the well-known IBM HR attrition export
  (Age, Attrition Yes/No, BusinessTravel, ... YearsWithCurrManager), UTF-8 CSV, with the
  mess of a real export: a few odd spellings of categories, blanks, a non-number, a
  duplicated employee number.
- ``survey_csv(n=3000)``: a Chinese survey-style export (a handful of categorical
  columns, 是/否 label), GBK-encoded.
- ``candidates_xlsx(n=1000)``: past candidates with a handful of numeric scores (written
  test, simulation, interview rating...), two categoricals and a 1/0 outcome, as XLSX.
- ``wide_arrays(n, p)``: a numeric matrix + labels for speed measurements.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

IBM_COLUMNS = [
    "Age",
    "Attrition",
    "BusinessTravel",
    "DailyRate",
    "Department",
    "DistanceFromHome",
    "Education",
    "EducationField",
    "EmployeeCount",
    "EmployeeNumber",
    "EnvironmentSatisfaction",
    "Gender",
    "HourlyRate",
    "JobInvolvement",
    "JobLevel",
    "JobRole",
    "JobSatisfaction",
    "MaritalStatus",
    "MonthlyIncome",
    "MonthlyRate",
    "NumCompaniesWorked",
    "Over18",
    "OverTime",
    "PercentSalaryHike",
    "PerformanceRating",
    "RelationshipSatisfaction",
    "StandardHours",
    "StockOptionLevel",
    "TotalWorkingYears",
    "TrainingTimesLastYear",
    "WorkLifeBalance",
    "YearsAtCompany",
    "YearsInCurrentRole",
    "YearsSinceLastPromotion",
    "YearsWithCurrManager",
]
IBM_NUMERIC = [
    "DailyRate",
    "DistanceFromHome",
    "Education",
    "EnvironmentSatisfaction",
    "HourlyRate",
    "JobInvolvement",
    "JobLevel",
    "JobSatisfaction",
    "MonthlyIncome",
    "MonthlyRate",
    "NumCompaniesWorked",
    "PercentSalaryHike",
    "PerformanceRating",
    "RelationshipSatisfaction",
    "StockOptionLevel",
    "TotalWorkingYears",
    "TrainingTimesLastYear",
    "WorkLifeBalance",
    "YearsAtCompany",
    "YearsInCurrentRole",
    "YearsSinceLastPromotion",
    "YearsWithCurrManager",
    "EmployeeCount",
    "StandardHours",
]
IBM_CATEGORICAL = [
    "BusinessTravel",
    "Department",
    "EducationField",
    "JobRole",
    "OverTime",
    "Over18",
]
IBM_PROTECTED = ["Age", "Gender", "MaritalStatus"]

_ROLES = {
    "Sales": [("Sales Executive", 2.5), ("Sales Representative", 1.0), ("Manager", 0.3)],
    "Research & Development": [
        ("Research Scientist", 2.0),
        ("Laboratory Technician", 1.8),
        ("Manufacturing Director", 1.0),
        ("Healthcare Representative", 0.9),
        ("Research Director", 0.6),
        ("Manager", 0.4),
    ],
    "Human Resources": [("Human Resources", 1.0), ("Manager", 0.1)],
}
_FIELDS = ["Life Sciences", "Medical", "Marketing", "Technical Degree", "Other", "Human Resources"]


def _choice(rng: np.random.Generator, options: list[Any], weights: list[float]) -> Any:
    p = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _calibrate_intercept(logit: np.ndarray, rate: float) -> float:
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        if (1 / (1 + np.exp(-(logit + mid)))).mean() > rate:
            high = mid
        else:
            low = mid
    return (low + high) / 2


def ibm_attrition_rows(
    n: int = 1470, *, seed: int = 42, attrition_rate: float = 0.16
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    latent = rng.normal(size=n)  # hidden: no column records it
    logits = np.zeros(n)
    for i in range(n):
        age = int(np.clip(rng.normal(37, 9), 18, 60))
        department = _choice(rng, list(_ROLES), [0.30, 0.65, 0.05])
        roles, weights = zip(*_ROLES[department], strict=True)
        role = _choice(rng, list(roles), list(weights))
        level = int(
            np.clip(
                round(
                    1
                    + (age - 18) / 12
                    + rng.normal(0, 0.8)
                    + (1.5 if "Director" in role or role == "Manager" else 0)
                ),
                1,
                5,
            )
        )
        total_years = int(np.clip(age - 18 - rng.integers(0, 6), 0, 40))
        at_company = int(np.clip(rng.exponential(6), 0, total_years))
        in_role = int(np.clip(at_company * rng.uniform(0.2, 0.9), 0, 18))
        since_promo = int(np.clip(at_company * rng.uniform(0, 0.7), 0, 15))
        with_manager = int(np.clip(at_company * rng.uniform(0.2, 0.9), 0, 17))
        income = int(np.clip(1000 + level * 3500 + rng.normal(0, 1500), 1009, 19999))
        overtime = "Yes" if rng.random() < 0.28 else "No"
        travel = _choice(
            rng, ["Travel_Rarely", "Travel_Frequently", "Non-Travel"], [0.71, 0.19, 0.10]
        )
        marital = _choice(rng, ["Married", "Single", "Divorced"], [0.46, 0.32, 0.22])
        stock = 0 if marital == "Single" and rng.random() < 0.8 else int(rng.integers(0, 4))
        env, job_sat, rel_sat = (int(rng.integers(1, 5)) for _ in range(3))
        involvement = int(np.clip(round(rng.normal(2.7, 0.7)), 1, 4))
        wlb = int(np.clip(round(rng.normal(2.8, 0.7)), 1, 4))
        distance = int(np.clip(rng.exponential(8), 1, 29))
        companies = int(np.clip(rng.poisson(2.7), 0, 9))
        hike = int(rng.integers(11, 26))
        rating = 4 if hike >= 20 and rng.random() < 0.9 else 3
        training = int(np.clip(rng.poisson(2.8), 0, 6))
        logit = (
            1.4 * (overtime == "Yes")
            - 0.35 * (level - 2)
            - 0.00005 * (income - 6500)
            - 0.035 * (age - 37)
            + 0.6 * (marital == "Single")
            - 0.25 * min(stock, 1)
            - 0.28 * (env - 2.5)
            - 0.28 * (job_sat - 2.5)
            - 0.22 * (involvement - 2.7)
            - 0.2 * (wlb - 2.8)
            + 0.8 * (travel == "Travel_Frequently")
            - 0.3 * (travel == "Non-Travel")
            + 0.03 * (distance - 9)
            + 0.12 * (companies - 2.7)
            - 0.05 * (at_company - 7)
            + 0.05 * (since_promo - 2)
            + 0.9 * (role == "Sales Representative")
            + 0.4 * (role == "Laboratory Technician")
            - 0.1 * (training - 2.8)
            + 0.9 * latent[i]
        )
        logits[i] = logit
        rows.append(
            {
                "Age": age,
                "BusinessTravel": travel,
                "DailyRate": int(rng.integers(102, 1500)),
                "Department": department,
                "DistanceFromHome": distance,
                "Education": int(np.clip(round(rng.normal(2.9, 1.0)), 1, 5)),
                "EducationField": _choice(rng, _FIELDS, [0.41, 0.32, 0.11, 0.09, 0.05, 0.02]),
                "EmployeeCount": 1,
                "EmployeeNumber": 1 + i * 2 - (i % 3 == 0),
                "EnvironmentSatisfaction": env,
                "Gender": "Male" if rng.random() < 0.6 else "Female",
                "HourlyRate": int(rng.integers(30, 101)),
                "JobInvolvement": involvement,
                "JobLevel": level,
                "JobRole": role,
                "JobSatisfaction": job_sat,
                "MaritalStatus": marital,
                "MonthlyIncome": income,
                "MonthlyRate": int(rng.integers(2094, 27000)),
                "NumCompaniesWorked": companies,
                "Over18": "Y",
                "OverTime": overtime,
                "PercentSalaryHike": hike,
                "PerformanceRating": rating,
                "RelationshipSatisfaction": rel_sat,
                "StandardHours": 80,
                "StockOptionLevel": stock,
                "TotalWorkingYears": total_years,
                "TrainingTimesLastYear": training,
                "WorkLifeBalance": wlb,
                "YearsAtCompany": at_company,
                "YearsInCurrentRole": in_role,
                "YearsSinceLastPromotion": since_promo,
                "YearsWithCurrManager": with_manager,
            }
        )
    shift = _calibrate_intercept(logits, attrition_rate)
    leaves = rng.random(n) < 1 / (1 + np.exp(-(logits + shift)))
    for row, left in zip(rows, leaves, strict=True):
        row["Attrition"] = "Yes" if left else "No"
    return rows


def ibm_attrition_csv(n: int = 1470, *, seed: int = 42, messy: bool = True) -> bytes:
    """UTF-8 CSV in IBM's column order. ``messy``: a few 'travel rarely' / 'SALES' spellings,
    blank cells, one non-number, one duplicated EmployeeNumber."""
    rows = ibm_attrition_rows(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    if messy and n > 50:
        for i in rng.choice(n, size=8, replace=False):
            rows[int(i)]["BusinessTravel"] = (
                str(rows[int(i)]["BusinessTravel"]).lower().replace("_", " ")
            )
        for i in rng.choice(n, size=5, replace=False):
            rows[int(i)]["Department"] = str(rows[int(i)]["Department"]).upper()
        for i in rng.choice(n, size=6, replace=False):
            rows[int(i)]["DistanceFromHome"] = ""
        rows[17]["MonthlyIncome"] = "unknown"
        rows[30]["EmployeeNumber"] = rows[29]["EmployeeNumber"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=IBM_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


SURVEY_COLUMNS = [
    "工号",
    "部门",
    "岗位级别",
    "工作满意度",
    "加班频率",
    "通勤时间",
    "是否接受过培训",
    "直属上级评价",
    "性别",
    "年龄段",
    "是否离职",
]
SURVEY_CATEGORICAL = [
    "部门",
    "岗位级别",
    "工作满意度",
    "加班频率",
    "通勤时间",
    "是否接受过培训",
    "直属上级评价",
]


def survey_csv(n: int = 3000, *, seed: int = 7, encoding: str = "gbk") -> bytes:
    """A survey-style export in Chinese: a handful of categorical answers and 是/否 离职."""
    rng = np.random.default_rng(seed)
    depts = ["销售部", "客服部", "采购部", "财务部", "行政部"]
    levels = ["初级", "中级", "高级"]
    sats = ["非常不满意", "不满意", "一般", "满意", "非常满意"]
    overtime = ["从不", "偶尔", "经常"]
    commute = ["30分钟以内", "30-60分钟", "60分钟以上"]
    boss = ["差", "一般", "好"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SURVEY_COLUMNS)
    latent = rng.normal(size=n)
    cells = []
    logits = np.zeros(n)
    for i in range(n):
        d = int(rng.choice(5, p=[0.4, 0.2, 0.15, 0.1, 0.15]))
        lv = int(rng.choice(3, p=[0.5, 0.35, 0.15]))
        s = int(rng.choice(5, p=[0.08, 0.17, 0.35, 0.3, 0.1]))
        o = int(rng.choice(3, p=[0.3, 0.45, 0.25]))
        c = int(rng.choice(3, p=[0.45, 0.4, 0.15]))
        t = int(rng.random() < 0.6)
        b = int(rng.choice(3, p=[0.2, 0.5, 0.3]))
        logits[i] = (
            0.5 * (d == 0)
            - 0.45 * lv
            - 0.45 * (s - 2)
            + 0.5 * (o - 1)
            + 0.3 * c
            - 0.5 * t
            - 0.4 * (b - 1)
            + 1.0 * latent[i]
        )
        cells.append(
            [
                f"S{10000 + i}",
                depts[d],
                levels[lv],
                sats[s],
                overtime[o],
                commute[c],
                "是" if t else "否",
                boss[b],
                "男" if rng.random() < 0.55 else "女",
                _choice(
                    rng, ["25岁以下", "25-34岁", "35-44岁", "45岁以上"], [0.25, 0.45, 0.2, 0.1]
                ),
            ]
        )
    shift = _calibrate_intercept(logits, 0.25)
    leaves = rng.random(n) < 1 / (1 + np.exp(-(logits + shift)))
    for row, left in zip(cells, leaves, strict=True):
        writer.writerow([*row, "是" if left else "否"])
    return out.getvalue().encode(encoding)


CANDIDATE_COLUMNS = [
    "候选人编号",
    "笔试成绩",
    "情景模拟得分",
    "面试评分",
    "抗压测评",
    "学习能力测评",
    "销售经验年限",
    "学历",
    "来源渠道",
    "性别",
    "年龄",
    "录用后留任",
]
CANDIDATE_NUMERIC = [
    "笔试成绩",
    "情景模拟得分",
    "面试评分",
    "抗压测评",
    "学习能力测评",
    "销售经验年限",
]
CANDIDATE_CATEGORICAL = ["学历", "来源渠道"]


def candidate_rows(n: int = 1000, *, seed: int = 11) -> list[list[Any]]:
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=n)  # partly seen through the scores
    grit = rng.normal(size=n)  # hidden
    rows: list[list[Any]] = []
    logits = np.zeros(n)
    for i in range(n):
        written = float(np.clip(round(65 + 10 * ability[i] + rng.normal(0, 9), 1), 0, 100))
        simulation = float(
            np.clip(round(60 + 8 * ability[i] + 6 * grit[i] + rng.normal(0, 10)), 0, 100)
        )
        interview = float(np.clip(round(3.4 + 0.4 * ability[i] + rng.normal(0, 0.6), 1), 1, 5))
        stress = float(np.clip(round(60 + 7 * grit[i] + rng.normal(0, 12)), 0, 100))
        learning = float(np.clip(round(62 + 6 * ability[i] + rng.normal(0, 12)), 0, 100))
        experience = float(np.clip(round(rng.exponential(3), 1), 0, 20))
        education = _choice(rng, ["大专", "本科", "硕士"], [0.35, 0.55, 0.10])
        source = _choice(rng, ["招聘网站", "内推", "校园招聘", "猎头"], [0.5, 0.25, 0.15, 0.1])
        logits[i] = (
            0.7 * ability[i]
            + 0.8 * grit[i]
            + 0.08 * min(experience, 6)
            + 0.4 * (source == "内推")
            - 0.2 * (education == "硕士")
        )
        rows.append(
            [
                f"C{20000 + i}",
                written,
                simulation,
                interview,
                stress,
                learning,
                experience,
                education,
                source,
                "男" if rng.random() < 0.5 else "女",
                int(rng.integers(21, 45)),
            ]
        )
    shift = _calibrate_intercept(logits, 0.35)
    good = rng.random(n) < 1 / (1 + np.exp(-(logits + shift)))
    for row, ok in zip(rows, good, strict=True):
        row.append(1 if ok else 0)
    return rows


def candidates_xlsx(n: int = 1000, *, seed: int = 11) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("候选人")
    sheet.append(CANDIDATE_COLUMNS)
    for row in candidate_rows(n, seed=seed):
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def wide_arrays(
    n: int = 100_000, p: int = 30, *, seed: int = 3, categorical: int = 5
) -> tuple[Any, np.ndarray, np.ndarray]:
    """(FeatureSpec, X, y): ``p`` features of which the last ``categorical`` are categories
    (8 levels each), a noisy logistic ground truth with a hidden term."""
    from zhanli_shared.ml.tabular import Feature, FeatureSpec

    rng = np.random.default_rng(seed)
    numeric = p - categorical
    X = rng.normal(size=(n, p))
    X[:, numeric:] = rng.integers(0, 8, size=(n, categorical))
    X[rng.random((n, p)) < 0.02] = np.nan
    weights = rng.normal(0, 0.4, size=numeric)
    filled = np.nan_to_num(X[:, :numeric])
    logit = (
        filled @ weights
        + 0.5 * np.sin(2 * filled[:, 0])
        + 0.4 * (np.nan_to_num(X[:, numeric]) == 3)
        + rng.normal(size=n)
    )
    logit += _calibrate_intercept(logit, 0.2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    spec = FeatureSpec(
        tuple(Feature(f"x{j}", "numeric") for j in range(numeric))
        + tuple(
            Feature(f"c{j}", "categorical", tuple(str(k) for k in range(8)))
            for j in range(categorical)
        )
    )
    return spec, X, y
