"""Property tests of the toolkit's pure parts: concordance, fairness ratios, hazard rows,
label and number parsing."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zhanli_shared.ml.fairness import fairness_report
from zhanli_shared.ml.survival import PersonSpan, person_periods
from zhanli_shared.ml.tabular import parse_number
from zhanli_shared.ml.training import concordance_index, evaluate


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 20), st.booleans(), st.integers(0, 5)), min_size=2, max_size=40
    )
)
def test_concordance_matches_the_pairwise_definition(rows: list[tuple[int, bool, int]]) -> None:
    time = np.array([r[0] for r in rows], dtype=float)
    event = np.array([r[1] for r in rows])
    risk = np.array([r[2] for r in rows], dtype=float)
    num = den = 0.0
    for i in range(len(rows)):
        for j in range(len(rows)):
            if event[i] and time[i] < time[j]:
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    got = concordance_index(time, event, risk)
    if den == 0:
        assert np.isnan(got)
    else:
        assert abs(got - num / den) < 1e-12


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.booleans()), min_size=1, max_size=200
    ),
    st.sampled_from(["selection", "flag"]),
    st.integers(1, 40),
)
def test_fairness_ratios_are_between_0_and_1_and_small_groups_never_flagged(
    rows: list[tuple[str | None, bool]], kind: str, min_size: int
) -> None:
    report = fairness_report(
        [r[1] for r in rows],
        {"g": [r[0] for r in rows]},
        kind=kind,
        min_group_size=min_size,  # type: ignore[arg-type]
    )
    attr = report["attributes"][0]
    assert sum(g["n"] for g in attr["groups"]) == len(rows)
    for g in attr["groups"]:
        if g["impact_ratio"] is not None:
            assert 0 <= g["impact_ratio"] <= 1 or not g["reliable"]
        if g["four_fifths_flag"]:
            assert g["reliable"] and g["impact_ratio"] < 0.8
        if g["group"] == attr["reference_group"]:
            assert g["impact_ratio"] == 1.0


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.one_of(st.none(), st.integers(0, 200))),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 260),
    st.integers(1, 14),
    st.integers(1, 6),
)
def test_hazard_rows_never_see_past_the_cut_off(
    people: list[tuple[int, int | None]], cut: int, period: int, horizon: int
) -> None:
    base = dt.date(2025, 1, 1)
    spans = [
        PersonSpan(
            str(i),
            base + dt.timedelta(days=h),
            None if s is None else base + dt.timedelta(days=h + s),
        )
        for i, (h, s) in enumerate(people)
    ]
    as_of = base + dt.timedelta(days=cut)
    rows = person_periods(spans, as_of=as_of, period_days=period, horizon=horizon)
    for index, span in enumerate(spans):
        mine = [r for r in rows if r.person == index]
        assert [r.period for r in mine] == list(range(len(mine)))  # contiguous from the hire
        for r in mine:
            assert r.start <= as_of and (span.left_on is None or r.start <= span.left_on)
            end = r.start + dt.timedelta(days=period * horizon)
            if r.label:  # the exit is seen, inside the window
                assert span.left_on is not None and span.left_on < end and span.left_on <= as_of
            else:  # the whole window was watched and the person stayed through it
                assert end <= as_of + dt.timedelta(days=1)
                assert span.left_on is None or span.left_on >= end


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_numbers_written_as_text_read_back(value: float) -> None:
    assert parse_number(repr(value)) == (value, None)
    assert parse_number(f" {value} ") == (value, None)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=100))
def test_evaluate_top_k_and_calibration_are_consistent(rows: list[tuple[bool, float]]) -> None:
    y = np.array([int(r[0]) for r in rows])
    p = np.array([r[1] for r in rows])
    m = evaluate(y, p, top_k=(0.1, 0.5), bins=5)
    if m["roc_auc"] is None:
        assert y.sum() in (0, len(y))
        return
    assert sum(b["n"] for b in m["calibration"]) == len(y)
    for t in m["top_k"]:
        assert 0 <= t["precision"] <= 1 and 0 <= t["recall"] <= 1
    assert 0 <= m["brier"] <= 1
