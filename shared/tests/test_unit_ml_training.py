"""zhanli_shared.ml: leakage refusal, deterministic training, calibration, explanations,
serialisation, fairness report and model card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zhanli_shared.errors import Unprocessable
from zhanli_shared.ml import synthetic
from zhanli_shared.ml.card import card_markdown, model_card
from zhanli_shared.ml.fairness import age_band, fairness_report, gender_group
from zhanli_shared.ml.leakage import data_leaks, leak_reason, protected_reason
from zhanli_shared.ml.registry import activation_decision
from zhanli_shared.ml.tabular import (
    ColumnMapping,
    Dataset,
    Feature,
    FeatureSpec,
    Limits,
    build_dataset,
    read_table,
    records_table,
)
from zhanli_shared.ml.training import (
    TrainConfig,
    TrainedModel,
    TrainResult,
    concordance_index,
    evaluate,
    make_folds,
    train,
)

FAST = TrainConfig(max_rounds=60, folds=3)


def ibm_mapping(**extra: object) -> ColumnMapping:
    return ColumnMapping(
        numeric=synthetic.IBM_NUMERIC,
        categorical=synthetic.IBM_CATEGORICAL,
        label="Attrition",
        id="EmployeeNumber",
        protected=synthetic.IBM_PROTECTED,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def ibm() -> Dataset:
    return build_dataset(read_table(synthetic.ibm_attrition_csv(600, seed=5)), ibm_mapping())


@pytest.fixture(scope="module")
def trained(ibm: Dataset) -> TrainResult:
    return train(ibm, FAST)


# ------------------------------------------------------------------------------- leakage


@pytest.mark.parametrize(
    "name",
    [
        "ExitReason",
        "离职原因",
        "TerminationDate",
        "离职日期",
        "time_to_exit",
        "Attrition_Flag",
        "EmploymentStatus",
        "last_working_day",
        "ResignationType",
        "在职状态",
        "days_until_exit",
    ],
)
def test_leaky_names_are_recognised(name: str) -> None:
    assert leak_reason(name) is not None


@pytest.mark.parametrize(
    "name",
    [
        "YearsAtCompany",
        "DistanceFromHome",
        "OverTime",
        "ActiveClients",
        "MonthlyIncome",
        "JobSatisfaction",
        "客户跟进次数",
        "Department",
        "AnnualLeaveDays",
    ],
)
def test_ordinary_names_are_not_leaks(name: str) -> None:
    assert leak_reason(name) is None
    assert protected_reason(name) is None


@pytest.mark.parametrize(
    "name",
    ["Gender", "性别", "Age", "年龄", "MaritalStatus", "婚姻状况", "DateOfBirth", "民族", "户籍"],
)
def test_protected_names_are_recognised(name: str) -> None:
    assert protected_reason(name) is not None


def test_leaky_protected_and_proxy_features_are_refused_by_name() -> None:
    rows = synthetic.ibm_attrition_rows(200, seed=1)
    for r in rows:
        r["ExitReason"] = "better pay" if r["Attrition"] == "Yes" else ""
    raw = records_table(rows)
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            raw,
            ColumnMapping(numeric=["MonthlyIncome"], categorical=["ExitReason"], label="Attrition"),
        )
    assert err.value.field == "mapping.categorical" and "'ExitReason'" in err.value.detail
    with pytest.raises(Unprocessable) as err:
        build_dataset(raw, ColumnMapping(numeric=["Age", "MonthlyIncome"], label="Attrition"))
    assert err.value.field == "mapping.numeric" and "protected" in err.value.detail
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            raw,
            ColumnMapping(
                numeric=["DistanceFromHome"], label="Attrition", proxies=["DistanceFromHome"]
            ),
        )
    assert "proxy" in err.value.detail


def test_columns_that_separate_the_outcome_or_exist_only_for_leavers_are_refused() -> None:
    rows = synthetic.ibm_attrition_rows(300, seed=2)
    rng = np.random.default_rng(0)
    for r in rows:
        left = r["Attrition"] == "Yes"
        r["Score2"] = (5 if left else 0) + float(rng.normal(0, 0.1))
        r["NoticeDays"] = int(rng.integers(10, 60)) if left else ""
    raw = records_table(rows)
    ds = build_dataset(
        raw, ColumnMapping(numeric=["MonthlyIncome", "Score2", "NoticeDays"], label="Attrition")
    )
    found = {f.column: f.kind for f in data_leaks(ds)}
    assert found == {"Score2": "separates", "NoticeDays": "populated_for_one_outcome"}
    with pytest.raises(Unprocessable) as err:
        train(ds, FAST)
    assert err.value.field == "mapping.numeric"
    assert err.value.extra["columns"] == ["Score2", "NoticeDays"]


def test_honest_columns_are_not_flagged(ibm: Dataset) -> None:
    assert data_leaks(ibm) == []


# ------------------------------------------------------------------------------ training


def test_training_reports_model_baseline_and_calibration(trained: TrainResult) -> None:
    m = trained.metrics
    for key in ("model", "model_uncalibrated", "baseline"):
        assert 0.6 < m[key]["roc_auc"] < 0.95, key  # honest data: no perfect score
        assert 0 < m[key]["brier"] < m[key]["brier_base_rate"]
        assert [t["fraction"] for t in m[key]["top_k"]] == [0.05, 0.1, 0.2]
        assert sum(b["n"] for b in m[key]["calibration"]) == m[key]["n"]
    assert m["rules"] is None
    assert (
        trained.validation["folds"] == 3 and trained.validation["validated_rows"] == m["model"]["n"]
    )
    assert not np.isnan(trained.oof).any()


def test_same_data_gives_the_same_model_and_predictions(ibm: Dataset, trained: TrainResult) -> None:
    again = train(ibm, FAST)
    assert again.model.to_json()["booster"] == trained.model.to_json()["booster"]
    assert again.model.calibrator == trained.model.calibrator
    assert np.array_equal(again.model.predict_proba(ibm.X), trained.model.predict_proba(ibm.X))
    assert again.baseline.to_json() == trained.baseline.to_json()
    assert again.metrics == trained.metrics


def test_models_round_trip_through_json(ibm: Dataset, trained: TrainResult) -> None:
    for model in (trained.model, trained.baseline):
        text = json.dumps(model.to_json())
        back = TrainedModel.from_json(json.loads(text))
        assert back.kind == model.kind and back.spec == model.spec
        assert np.allclose(
            back.predict_proba(ibm.X), model.predict_proba(ibm.X), rtol=0, atol=1e-12
        )


def test_scoring_records_uses_the_feature_spec(trained: TrainResult) -> None:
    rows = synthetic.ibm_attrition_rows(5, seed=9)
    p = trained.model.score_records(rows)
    assert p.shape == (5,) and ((p > 0) & (p < 1)).all()
    rows[0]["JobRole"] = "Astronaut"  # unseen category: scored as missing, not an error
    assert 0 < trained.model.score_records(rows[:1])[0] < 1


def test_explanations_name_the_reasons_up_and_down(ibm: Dataset, trained: TrainResult) -> None:
    for model in (trained.model, trained.baseline):
        explanations = model.explain(ibm.X[:20], top=3)
        assert len(explanations) == 20
        for e in explanations:
            assert len(e.up) <= 3 and len(e.down) <= 3
            assert all(r.contribution > 0 for r in e.up) and all(r.contribution < 0 for r in e.down)
            assert {r.feature for r in e.up + e.down} <= set(ibm.spec.names)
        assert any(e.up for e in explanations) and any(e.down for e in explanations)
        overtime = [r for e in explanations for r in e.up + e.down if r.feature == "OverTime"]
        assert all(r.value in ("Yes", "No") for r in overtime)
    # Contributions (log-odds) plus the bias add up to the calibrated score.
    for model in (trained.model, trained.baseline):
        raw = model.raw(ibm.X[:5])
        contrib = model.inner.contributions(ibm.X[:5])
        bias = raw - contrib.sum(axis=1)
        assert np.allclose(bias, bias[0])
    # The baseline's contributions are measured from the average row: they average to ~0.
    assert np.allclose(trained.baseline.inner.contributions(ibm.X).mean(axis=0), 0, atol=1e-9)


def test_progress_is_reported_from_start_to_end(ibm: Dataset) -> None:
    seen: list[tuple[float, str]] = []
    train(ibm, TrainConfig(max_rounds=20, folds=2), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("fold" in m for _, m in seen)


def test_rules_are_evaluated_on_the_same_validation_rows(ibm: Dataset) -> None:
    overtime = ibm.spec.features[ibm.spec.names.index("OverTime")]
    yes = overtime.categories.index("Yes")
    rules = (ibm.X[:, ibm.spec.names.index("OverTime")] == yes).astype(float)
    result = train(ibm, FAST, rules=rules)
    assert result.metrics["rules"]["n"] == result.metrics["model"]["n"]
    assert 0.5 < result.metrics["rules"]["roc_auc"] < result.metrics["model"]["roc_auc"]


def test_later_cohort_validation_trains_only_on_earlier_cohorts(ibm: Dataset) -> None:
    cohorts = np.arange(ibm.n) // 60  # ten hire cohorts
    ds = Dataset.from_arrays(ibm.spec, ibm.X, ibm.y, time=cohorts)
    folds = make_folds(ds, TrainConfig(validation="later", folds=4))
    assert len(folds) == 4
    for tr, va in folds:
        assert cohorts[tr].max() < cohorts[va].min()
    result = train(ds, TrainConfig(validation="later", folds=4, max_rounds=40))
    assert result.validation["scheme"] == "later"
    assert result.metrics["model"]["n"] == sum(len(va) for _, va in folds) < ibm.n
    assert np.isnan(result.oof[cohorts == 0]).all()
    with pytest.raises(Unprocessable) as err:
        train(Dataset.from_arrays(ibm.spec, ibm.X, ibm.y), TrainConfig(validation="later"))
    assert err.value.field == "mapping.time"


def test_grouped_folds_keep_a_persons_rows_together(ibm: Dataset) -> None:
    people = np.repeat(np.arange(ibm.n // 4 + 1), 4)[: ibm.n].astype(str)
    ds = Dataset.from_arrays(ibm.spec, ibm.X, ibm.y, groups=people)
    for tr, va in make_folds(ds, FAST):
        assert not set(people[tr]) & set(people[va])


def test_monotone_constraints_hold() -> None:
    rng = np.random.default_rng(4)
    n = 800
    X = rng.normal(size=(n, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] + np.sin(3 * X[:, 0]) + X[:, 1])))).astype(int)
    spec = FeatureSpec((Feature("score", "numeric"), Feature("other", "numeric")))
    result = train(
        Dataset.from_arrays(spec, X, y), TrainConfig(max_rounds=60, monotone={"score": 1})
    )
    grid = np.column_stack([np.linspace(-3, 3, 200), np.zeros(200)])
    p = result.model.predict_proba(grid)
    assert np.all(np.diff(p) >= -1e-12)
    with pytest.raises(Unprocessable) as err:
        train(Dataset.from_arrays(spec, X, y), TrainConfig(monotone={"nope": 1}))
    assert err.value.field == "monotone"


def test_evaluate_and_concordance_against_brute_force() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    m = evaluate(y, p, top_k=(0.1,))
    order = np.argsort(-p, kind="stable")[:30]
    assert m["top_k"][0]["precision"] == y[order].mean()
    time = rng.integers(1, 50, 120).astype(float)
    event = rng.integers(0, 2, 120)
    risk = rng.integers(0, 10, 120).astype(float)
    num = den = 0.0
    for i in range(120):
        for j in range(120):
            if event[i] and time[i] < time[j]:
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    assert concordance_index(time, event, risk) == pytest.approx(num / den)


def test_activation_policy() -> None:
    metrics = {
        "model": {"roc_auc": 0.78, "brier": 0.12},
        "baseline": {"roc_auc": 0.75, "brier": 0.121},
        "rules": {"roc_auc": 0.70},
    }
    assert activation_decision(metrics).activate
    assert not activation_decision({**metrics, "rules": {"roc_auc": 0.8}}).activate
    worse = activation_decision({**metrics, "baseline": {"roc_auc": 0.79, "brier": 0.11}})
    assert not worse.activate and "logistic regression" in " ".join(worse.reasons)
    assert activation_decision(
        {**metrics, "baseline": {"roc_auc": 0.79, "brier": 0.11}}, candidate="baseline"
    ).activate
    assert not activation_decision({"model": {"roc_auc": None}}).activate


def test_champion_is_the_better_validated_model(trained: TrainResult) -> None:
    key, model = trained.champion()
    other = "baseline" if key == "model" else "model"
    assert trained.metrics[key]["roc_auc"] >= trained.metrics[other]["roc_auc"]
    assert model is (trained.model if key == "model" else trained.baseline)


# ------------------------------------------------------------------- fairness and the card


def test_four_fifths_rule_and_small_groups() -> None:
    gender = ["male"] * 100 + ["female"] * 100 + ["other"] * 5 + [None] * 3
    selected = (
        [i < 50 for i in range(100)] + [i < 30 for i in range(100)] + [False] * 5 + [True] * 3
    )
    report = fairness_report(selected, {"gender": gender}, kind="selection")
    groups = {g["group"]: g for g in report["attributes"][0]["groups"]}
    assert report["attributes"][0]["reference_group"] == "male"
    assert groups["female"]["impact_ratio"] == 0.6 and groups["female"]["four_fifths_flag"]
    assert not groups["other"]["reliable"] and not groups["other"]["four_fifths_flag"]
    assert not groups["unknown"]["reliable"] and report["flagged"]
    flags = fairness_report(selected, {"gender": gender}, kind="flag")
    fg = {g["group"]: g for g in flags["attributes"][0]["groups"]}
    assert flags["attributes"][0]["reference_group"] == "female"
    assert fg["male"]["impact_ratio"] == 0.6 and fg["male"]["four_fifths_flag"]


def test_age_band_and_gender_group() -> None:
    import datetime as dt

    assert [age_band(a) for a in (22, "30", 44.9, 50, 61, None, "x")] == [
        "<25",
        "25-34",
        "35-44",
        "45-54",
        "55+",
        None,
        None,
    ]
    assert age_band(dt.date(1990, 6, 1), as_of=dt.date(2026, 5, 31)) == "35-44"
    assert age_band("1990-06-01", as_of=dt.date(2026, 6, 1)) == "35-44"
    assert [gender_group(v) for v in ("M", "女", "Female", None)] == [
        "male",
        "female",
        "female",
        None,
    ]


def test_model_card_has_data_features_metrics_limits(ibm: Dataset, trained: TrainResult) -> None:
    p = trained.model.predict_proba(ibm.X)
    fairness = fairness_report(
        p > 0.3, {"gender": [gender_group(v) for v in ibm.protected["Gender"]]}, kind="flag"
    )
    assert ibm.report is not None
    card = model_card(
        name="retention.attrition",
        version=1,
        result=trained,
        intended_use="Flag people at risk of leaving so HR can talk to them.",
        data=ibm.report.to_dict(),
        fairness=fairness,
        decision=activation_decision(trained.metrics),
    )
    json.dumps(card)
    assert card["data"]["rows_accepted"] == ibm.n
    assert {f["name"] for f in card["features"]} == set(ibm.spec.names)
    assert card["metrics"]["baseline"]["roc_auc"] == trained.metrics["baseline"]["roc_auc"]
    assert any("PIPL" in limit for limit in card["limits"])
    text = card_markdown(card)
    for heading in (
        "# Model card",
        "## Data",
        "## Features",
        "## Validation",
        "## Fairness",
        "## Limits",
    ):
        assert heading in text


def test_survey_export_in_gbk_trains(tmp_path: object) -> None:
    raw = read_table(synthetic.survey_csv(800, seed=3), filename="调查.csv")
    assert raw.encoding == "gb18030"
    ds = build_dataset(
        raw,
        ColumnMapping(
            categorical=synthetic.SURVEY_CATEGORICAL,
            label="是否离职",
            id="工号",
            protected=["性别", "年龄段"],
        ),
    )
    result = train(ds, FAST)
    assert 0.55 < result.metrics["model"]["roc_auc"] < 0.95


def test_candidates_xlsx_trains_with_a_monotone_score() -> None:
    raw = read_table(synthetic.candidates_xlsx(500, seed=3), filename="候选人.xlsx")
    ds = build_dataset(
        raw,
        ColumnMapping(
            numeric=synthetic.CANDIDATE_NUMERIC,
            categorical=synthetic.CANDIDATE_CATEGORICAL,
            label="录用后留任",
            id="候选人编号",
            protected=["性别", "年龄"],
        ),
        limits=Limits(),
    )
    result = train(ds, TrainConfig(max_rounds=60, folds=3, monotone={"情景模拟得分": 1}))
    assert 0.55 < result.metrics["model"]["roc_auc"] < 0.95


def test_protected_columns_become_fairness_groups(ibm: Dataset) -> None:
    from zhanli_shared.ml.fairness import protected_groups

    groups = protected_groups(ibm.protected)
    assert set(groups) == {"age_band", "gender", "MaritalStatus"}
    assert set(groups["gender"]) <= {"male", "female"}
    assert set(groups["age_band"]) <= {"<25", "25-34", "35-44", "45-54", "55+"}
    zh = protected_groups(
        {"性别": ["男", "女"], "出生日期": ["1990-01-01", None]},
        as_of=__import__("datetime").date(2026, 1, 1),
    )
    assert zh == {"gender": ["male", "female"], "age_band": ["35-44", None]}


def test_person_periods_count_censored_people_for_what_was_seen() -> None:
    import datetime as dt

    from zhanli_shared.ml.survival import PersonSpan, person_periods, risk_within

    d = dt.date(2026, 1, 5)
    spans = [
        PersonSpan("left-day-10", d, d + dt.timedelta(days=10)),
        PersonSpan("still-here", d),
        PersonSpan("hired-late", d + dt.timedelta(days=20)),
    ]
    rows = person_periods(spans, as_of=d + dt.timedelta(days=27), period_days=7, horizon=1)
    by_person = {i: [(r.period, r.label) for r in rows if r.person == i] for i in range(3)}
    assert by_person[0] == [(0, 0), (1, 1)]
    assert by_person[1] == [(0, 0), (1, 0), (2, 0), (3, 0)]  # watched 4 whole weeks
    assert by_person[2] == [(0, 0)]  # one whole week seen, then censored
    four = person_periods(spans, as_of=d + dt.timedelta(days=27), horizon=4)
    assert [(r.period, r.label) for r in four if r.person == 0] == [(0, 1), (1, 1)]
    assert [r.period for r in four if r.person == 1] == [0]
    assert risk_within(0.0, 90) == 0
    assert risk_within(0.05, 63) == pytest.approx(1 - 0.95**9)


def test_hire_and_exit_dates_train_on_later_cohorts() -> None:
    import datetime as dt

    rng = np.random.default_rng(12)
    rows = []
    start = dt.date(2023, 1, 1)
    for i in range(600):
        hired = start + dt.timedelta(days=int(i * 1.2))
        score = float(rng.normal())
        leaves = rng.random() < 1 / (1 + np.exp(-(2 * score - 0.5)))
        rows.append(
            {
                "id": f"P{i}",
                "hired": hired.isoformat(),
                "left": (hired + dt.timedelta(days=int(rng.integers(5, 170)))).isoformat()
                if leaves
                else "",
                "training_completion": round(
                    float(np.clip(0.8 - 0.1 * score + rng.normal(0, 0.03), 0, 1)), 2
                ),
                "mentor": ["A", "B", "C"][i % 3],
            }
        )
    ds = build_dataset(
        records_table(rows),
        ColumnMapping(
            numeric=["training_completion"],
            categorical=["mentor"],
            hire_date="hired",
            exit_date="left",
            horizon_days=180,
            id="id",
        ),
    )
    assert ds.report is not None and ds.time is not None
    # The newest hires have not been watched for 180 days: censored, not counted as stayers.
    assert ds.report.rejection_counts == {
        "hired: censored (watched less than the horizon)": ds.report.rows_rejected
    }
    result = train(ds, TrainConfig(validation="later", folds=3))
    assert result.validation["scheme"] == "later"
    assert 0.6 < result.metrics["model"]["roc_auc"] < 0.95


def test_learn_from_a_file_gives_everything_the_registry_stores() -> None:
    from zhanli_shared.ml.pipeline import learn_from_file

    outcome = learn_from_file(
        synthetic.ibm_attrition_csv(500, seed=21),
        "hr.csv",
        ibm_mapping(),
        name="retention.attrition",
        intended_use="Flag people at risk of leaving so HR can talk to them.",
        config=FAST,
    )
    assert outcome.champion in ("model", "baseline")
    assert outcome.model is (
        outcome.result.model if outcome.champion == "model" else outcome.result.baseline
    )
    assert (
        outcome.card["kind"] == outcome.model.kind and outcome.card["champion"] == outcome.champion
    )
    assert outcome.fairness is not None
    assert {a["attribute"] for a in outcome.fairness["attributes"]} == {
        "age_band",
        "gender",
        "MaritalStatus",
    }
    assert outcome.decision.reasons
    json.dumps(
        [outcome.metrics, outcome.training, outcome.card, outcome.model.to_json()], allow_nan=False
    )


def test_progress_is_reported_inside_long_folds() -> None:
    spec, X, y = synthetic.wide_arrays(2000, 6, categorical=1)
    seen: list[tuple[float, str]] = []
    train(
        Dataset.from_arrays(spec, X, y),
        TrainConfig(folds=2, max_rounds=120, early_stopping_rounds=1000, check_leakage=False),
        progress=lambda f, m: seen.append((f, m)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "LightGBM fold 1 of 2: 50 trees" in [m for _, m in seen]
