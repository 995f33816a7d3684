"""Pure retention math, property-tested: rules, point-in-time snapshots, the hazard dataset
(censoring), the cohort split, risk over horizons, metrics, matched effects, the generator."""

from __future__ import annotations

import datetime as dt
import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from zhanli_retention.core.advice import BandSettings, band_of, suggest, top_factors
from zhanli_retention.core.effect import Unit, matched_effect
from zhanli_retention.core.features import (
    FEATURES,
    PersonFacts,
    Signal,
    Timeline,
    relative_to_peers,
    snapshot,
    zero_growth_weeks,
)
from zhanli_retention.core.generator import generate
from zhanli_retention.core.hazard import (
    HazardSettings,
    build_dataset,
    cumulative_risk,
    person_weeks,
    projected_rows,
    split_by_cohort,
)
from zhanli_retention.core.metrics import concordance, precision_at_k
from zhanli_retention.core.rules import RuleSettings, evaluate

D0 = dt.date(2026, 1, 5)
days = st.integers(0, 400).map(lambda n: D0 + dt.timedelta(days=n))
signal_names = st.sampled_from(
    ["training_completion", "mentor_rating", "performance_growth", "kpi_score", "manager_change"]
)
signals = st.lists(
    st.builds(Signal, signal_names, st.floats(-1, 10, allow_nan=False), days), max_size=40
)

# --- rules ----------------------------------------------------------------------------------


def test_the_three_domain_rules_fire_at_their_thresholds() -> None:
    s = RuleSettings()
    r = evaluate({"training_completion": 0.79, "mentor_rating": 6.9, "zero_growth_weeks": 2}, s)
    assert r.fired == ["training_completion", "mentor_rating", "zero_growth"]
    assert r.band(s) == "high"
    r = evaluate({"training_completion": 0.8, "mentor_rating": 7, "zero_growth_weeks": 1}, s)
    assert r.fired == [] and r.band(s) == "low" and r.score == 0


def test_an_unknown_signal_never_fires_and_thresholds_are_configurable() -> None:
    r = evaluate({"training_completion": math.nan}, RuleSettings())
    assert r.fired == [] and all(f.fired is None for f in r.flags)
    s = RuleSettings(training_completion_below=0.5, enabled=frozenset({"training_completion"}))
    assert evaluate({"training_completion": 0.6}, s).fired == []
    assert evaluate({"training_completion": 0.4}, s).fired == ["training_completion"]
    assert len(evaluate({}, s).flags) == 1


@given(st.floats(0, 1), st.floats(0, 10), st.integers(0, 10))
def test_rule_score_is_the_share_of_rules_fired(tc: float, mr: float, zg: int) -> None:
    r = evaluate(
        {"training_completion": tc, "mentor_rating": mr, "zero_growth_weeks": zg}, RuleSettings()
    )
    assert r.score == len(r.fired) / 3
    assert 0 <= r.score <= 1


# --- point-in-time snapshots ----------------------------------------------------------------


@given(signals, signals, days)
@settings(max_examples=60, deadline=None)
def test_a_snapshot_never_sees_facts_after_its_day(
    past: list[Signal], future: list[Signal], as_of: dt.date
) -> None:
    past = [s for s in past if s.observed_on <= as_of]
    future = [s for s in future if s.observed_on > as_of]
    p1 = PersonFacts("e", D0, None, Timeline.of(past))
    p2 = PersonFacts("e", D0, None, Timeline.of(past + future))
    a, b = snapshot(p1, as_of), snapshot(p2, as_of)
    assert a.keys() == b.keys() == set(FEATURES)
    for k in a:
        assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k], k


def test_snapshot_reads_latest_values_trend_and_counts() -> None:
    tl = Timeline.of(
        [
            Signal("kpi_score", 0.5, D0 + dt.timedelta(days=10)),
            Signal("kpi_score", 0.8, D0 + dt.timedelta(days=20)),
            Signal("manager_change", 1, D0 + dt.timedelta(days=3)),
            Signal("manager_change", 1, D0 + dt.timedelta(days=30)),
        ]
    )
    s = snapshot(PersonFacts("e", D0, None, tl), D0 + dt.timedelta(days=21))
    assert s["kpi_score"] == 0.8 and math.isclose(s["kpi_trend"], 0.3)
    assert s["manager_changes"] == 1 and s["tenure_weeks"] == 3
    assert math.isnan(s["mentor_rating"]) and s["in_probation"] == 1


def test_zero_growth_weeks_counts_consecutive_weeks_without_growth() -> None:
    growth = [0.1, 0.2, 0.0, 0.0, 0.0]  # weekly facts at the end of each week
    tl = Timeline.of(
        Signal("performance_growth", g, D0 + dt.timedelta(days=7 * i + 6))
        for i, g in enumerate(growth)
    )
    assert zero_growth_weeks(tl, D0 + dt.timedelta(days=7 * 5 + 6)) == 3
    assert zero_growth_weeks(tl, D0 + dt.timedelta(days=7 * 2 + 6)) == 1
    assert zero_growth_weeks(tl, D0 + dt.timedelta(days=7 * 1 + 6)) == 0
    assert math.isnan(zero_growth_weeks(tl, D0))


def test_commission_is_relative_to_peers_of_the_same_group() -> None:
    rows = [{"c": 100.0}, {"c": 300.0}, {"c": 200.0}, {"c": math.nan}, {"c": 0.0}]
    relative_to_peers(rows, ["a", "a", "a", "a", "b"], "c")
    assert [r["c"] for r in rows[:3]] == [0.5, 1.5, 1.0]
    assert math.isnan(rows[3]["c"]) and rows[4]["c"] == 1.0


# --- the hazard dataset ---------------------------------------------------------------------


@given(
    st.integers(0, 300),
    st.one_of(st.none(), st.integers(1, 400)),
    st.integers(1, 4),
)
def test_person_weeks_label_only_known_weeks(hire_offset: int, stay: int | None, k: int) -> None:
    hired = D0 + dt.timedelta(days=hire_offset)
    until = D0 + dt.timedelta(days=365)
    left = hired + dt.timedelta(days=stay) if stay is not None else None
    rows = person_weeks(hired, left, until, HazardSettings(horizon_weeks=k))
    weeks = [w for w, _, _ in rows]
    assert weeks == list(range(len(rows)))  # no gaps
    for _, as_of, label in rows:
        assert as_of <= until
        horizon = as_of + dt.timedelta(days=7 * k)
        if left is not None and left <= until:
            assert as_of < left  # never a row at or after leaving
            assert label == (1 if left <= horizon else 0)
        else:
            assert label == 0 and horizon <= until  # censored: only weeks whose label is known
    if left is not None and left <= until and hired < left:
        assert sum(label for *_, label in rows) == min(k, len(rows)) or rows[-1][2] == 1


def test_dataset_counts_censored_people_for_the_weeks_seen() -> None:
    until = D0 + dt.timedelta(days=70)
    stayer = PersonFacts("s", D0, None, Timeline())
    leaver = PersonFacts("l", D0, D0 + dt.timedelta(days=30), Timeline())
    later = PersonFacts("f", D0 + dt.timedelta(days=90), None, Timeline())
    ds = build_dataset([stayer, leaver, later], until, HazardSettings(horizon_weeks=1))
    assert ds.person.count("s") == 10 and ds.censored_people == 1 and ds.left_people == 1
    assert [y for p, y in zip(ds.person, ds.y, strict=True) if p == "l"] == [0, 0, 0, 0, 1]
    assert "f" not in ds.person
    assert all(len(r) == len(FEATURES) for r in ds.x)


@given(st.lists(st.sampled_from(["2026-01", "2026-02", "2026-03", "2026-04"]), min_size=2))
def test_validation_cohorts_are_all_later_than_training_cohorts(cohorts: list[str]) -> None:
    split = split_by_cohort(cohorts, 0.3)
    if split.validation_cohorts:
        assert max(split.train_cohorts) < min(split.validation_cohorts)
        assert split.train_cohorts  # something is left to learn from
    assert set(split.train_cohorts) | set(split.validation_cohorts) == set(cohorts)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_risk_grows_with_the_horizon(hazards: list[float]) -> None:
    risks = [cumulative_risk(hazards[:n]) for n in range(len(hazards) + 1)]
    assert risks[0] == 0
    assert all(0 <= r <= 1 for r in risks)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(risks))


def test_projected_rows_move_tenure_forward_only() -> None:
    x = [math.nan] * len(FEATURES)
    x[FEATURES.index("tenure_weeks")] = 24.0
    x[FEATURES.index("mentor_rating")] = 6.0
    rows = projected_rows(x, 4)
    assert [r[FEATURES.index("tenure_weeks")] for r in rows] == [24, 25, 26, 27]
    assert [r[FEATURES.index("in_probation")] for r in rows] == [1, 1, 0, 0]
    assert all(r[FEATURES.index("mentor_rating")] == 6.0 for r in rows)


# --- metrics, bands, advice, effect ---------------------------------------------------------


def test_concordance_of_perfect_and_reversed_rankings() -> None:
    time = [1, 2, 3, 4]
    event = [1, 1, 1, 0]
    assert concordance([4, 3, 2, 1], time, event) == 1.0
    assert concordance([1, 2, 3, 4], time, event) == 0.0
    assert concordance([1, 1, 1, 1], time, event) == 0.5
    assert math.isnan(concordance([1, 2], [1, 2], [0, 0]))


@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=1, max_size=30))
def test_precision_at_k_is_a_share(rows: list[tuple[float, int]]) -> None:
    score, label = [r[0] for r in rows], [r[1] for r in rows]
    for k in (1, len(rows)):
        p = precision_at_k(score, label, k)
        assert 0 <= p <= 1
    assert precision_at_k(score, label, len(rows)) == sum(label) / len(rows)


def test_bands_factors_and_interventions() -> None:
    s = BandSettings(medium_from=0.2, high_from=0.5)
    assert [band_of(p, s) for p in (0.1, 0.2, 0.5)] == ["low", "medium", "high"]
    f = top_factors(
        [0.5, -1.0, 0.7, 0.0], [0.6, 9, 1, 3], ["training_completion", "a", "mentor_rating", "b"]
    )
    assert [x.feature for x in f] == ["mentor_rating", "training_completion"]
    assert f[0].zh == "导师评分"
    kinds = [i.kind for i in suggest([x.feature for x in f])]
    assert kinds == ["mentor_change", "training_plan", "coaching"]
    assert [i.kind for i in suggest([])] == ["check_in"]


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=40))
@settings(deadline=None)
def test_matched_effect_of_identical_groups_is_zero(units: list[tuple[float, bool]]) -> None:
    treated = [Unit(f"t{i}", r, s) for i, (r, s) in enumerate(units)]
    control = [Unit(f"c{i}", r, s) for i, (r, s) in enumerate(units)]
    rep = matched_effect(treated, control, caliper=0.0)
    assert rep.matched == len(units)
    assert rep.ci_low <= rep.difference <= rep.ci_high
    assert rep.matched + rep.unmatched == rep.treated


def test_matched_effect_respects_the_caliper() -> None:
    rep = matched_effect([Unit("t", 0.9, True)], [Unit("c", 0.1, False)], caliper=0.05)
    assert rep.matched == 0 and not rep.reliable and math.isnan(rep.difference)


def test_generator_is_deterministic_and_honest() -> None:
    a = generate(60, seed=5)
    b = generate(60, seed=5)
    assert [(p.employee_id, p.left_on, len(p.signals)) for p in a] == [
        (p.employee_id, p.left_on, len(p.signals)) for p in b
    ]
    assert 0 < sum(p.left_on is not None for p in a) < 60
    assert all(p.exit_reason for p in a if p.left_on)
    assert all(s.observed_on >= p.hired_on for p in a for s in p.signals)
