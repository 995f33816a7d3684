"""Match score and profile learning: pure functions, property-tested."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhanli_talent.core import profiles, scoring
from zhanli_talent.core.scoring import Candidate, KeywordSpec, Pool, ProfileSpec, TraitSpec

PROFILE = ProfileSpec(
    keywords=[KeywordSpec("客户开发", 2.0), KeywordSpec("货代销售", 1.0), KeywordSpec("倾听", 1.0)],
    traits=[
        TraitSpec("stress_resilience", 2.0, threshold=75, tolerance=30),
        TraitSpec("deal_cycle_days", 1.0, threshold=30, tolerance=30, higher_is_better=False),
    ],
)

terms = st.sampled_from(["客户开发", "货代销售", "倾听", "其他", "报关"])
candidates = st.builds(
    lambda counts, extra, traits: Candidate(
        counts=counts, length=sum(counts.values()) + extra, traits=traits
    ),
    st.dictionaries(terms, st.integers(1, 20), max_size=5),
    st.integers(0, 2000),
    st.fixed_dictionaries(
        {},
        optional={
            "stress_resilience": st.floats(0, 100),
            "deal_cycle_days": st.floats(0, 200),
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(candidates, st.none() | st.floats(0, 1), st.floats(0, 0.9))
def test_score_is_bounded_and_explained(cand: Candidate, p: float | None, alpha: float) -> None:
    profile = ProfileSpec(PROFILE.keywords, PROFILE.traits, learned_weight=alpha)
    result = scoring.score(profile, cand, p)
    assert 0 <= result.score <= 100
    assert result.pool == scoring.pool_of(result.score, profile)
    assert set(result.keywords_matched) | set(result.keywords_missing) == {
        "客户开发",
        "货代销售",
        "倾听",
    }
    assert not set(result.keywords_matched) & set(result.keywords_missing)
    [many] = scoring.score_many(profile, [cand], [p])
    assert math.isclose(many, result.score, abs_tol=0.1 + 1e-9)


@settings(max_examples=200, deadline=None)
@given(candidates, st.floats(0, 100), st.floats(0, 100))
def test_a_better_assessment_never_lowers_the_score(cand: Candidate, a: float, b: float) -> None:
    low, high = sorted((a, b))
    worse = Candidate(cand.counts, cand.length, {**cand.traits, "stress_resilience": low})
    better = Candidate(cand.counts, cand.length, {**cand.traits, "stress_resilience": high})
    assert scoring.score(PROFILE, better).score >= scoring.score(PROFILE, worse).score


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 50), st.integers(1, 5000), st.floats(50, 1000))
def test_keyword_fit_saturates_and_grows_with_mentions(tf: int, length: int, avg: float) -> None:
    fit = scoring.keyword_fit(tf, length, avg)
    assert 0 <= fit <= 1
    assert scoring.keyword_fit(tf + 1, length + 1, avg) >= fit
    if tf:
        assert scoring.keyword_fit(tf, length + 500, avg) <= fit


def test_no_evidence_is_not_a_focus_candidate_and_a_strong_one_is() -> None:
    empty = scoring.score(PROFILE, Candidate({}, 100))
    assert empty.pool is Pool.ELIMINATION
    assert empty.traits_missing == ["stress_resilience", "deal_cycle_days"]
    strong = scoring.score(
        PROFILE,
        Candidate(
            {"客户开发": 3, "货代销售": 2, "倾听": 2},
            300,
            {"stress_resilience": 90, "deal_cycle_days": 20},
        ),
    )
    assert strong.pool is Pool.FOCUS and strong.score == 100
    assert strong.reasons_up[0].factor == "stress_resilience"
    assert strong.keywords_missing == []


def test_reasons_name_what_was_lost() -> None:
    result = scoring.score(
        PROFILE, Candidate({"客户开发": 2}, 300, {"stress_resilience": 45, "deal_cycle_days": 20})
    )
    down = {r.factor: r for r in result.reasons_down}
    assert "stress_resilience" in down and down["stress_resilience"].detail.startswith("45")
    assert result.keywords_missing == ["货代销售", "倾听"]
    lost = sum(r.points for r in result.reasons_down)
    assert lost <= 100 - result.score + 0.5


def test_thresholds_are_per_profile() -> None:
    lenient = ProfileSpec(PROFILE.keywords, PROFILE.traits, elimination_below=20, focus_above=50)
    cand = Candidate({"客户开发": 1}, 300, {"stress_resilience": 70})
    assert scoring.score(lenient, cand).pool is Pool.FOCUS
    assert scoring.score(PROFILE, cand).pool is not Pool.FOCUS


# --- profiles ------------------------------------------------------------------------


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.floats(-100, 100), max_size=60))
def test_top_group_is_the_top_fifth(kpi: dict[str, float]) -> None:
    top = profiles.top_group(kpi)
    assert len(top) == (max(1, math.ceil(0.2 * len(kpi))) if kpi else 0)
    if top and len(top) < len(kpi):
        assert min(kpi[p] for p in top) >= max(kpi[p] for p in kpi if p not in top)


@given(
    st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30),
    st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30),
)
def test_effect_size_is_antisymmetric(a: list[float], b: list[float]) -> None:
    ab, ba = profiles.hedges_g(a, b), profiles.hedges_g(b, a)
    if ab is None:
        assert ba is None
        return
    assert ba is not None
    assert math.isclose(ab[0], -ba[0], rel_tol=1e-9, abs_tol=1e-9)
    if np.mean(a) > np.mean(b) + 1e-6:
        assert ab[0] > 0


def test_a_real_difference_is_found_and_small_groups_warned() -> None:
    rng = np.random.default_rng(7)
    people = [f"P{i:03d}" for i in range(200)]
    kpi = {p: float(rng.normal()) for p in people}
    follow_ups = {p: 8 + 3 * kpi[p] + float(rng.normal()) for p in people}
    noise = {p: float(rng.normal()) for p in people}
    effects = {
        e.trait: e for e in profiles.trait_effects(kpi, {"follow_ups": follow_ups, "noise": noise})
    }
    assert effects["follow_ups"].effect_size is not None
    assert effects["follow_ups"].effect_size > 1.5
    assert effects["follow_ups"].warning is None
    assert effects["follow_ups"].suggested_weight == pytest.approx(1.0)
    assert effects["noise"].suggested_weight == 0.0 or effects["noise"].suggested_weight < 0.2
    few = profiles.trait_effects({p: kpi[p] for p in people[:20]}, {"follow_ups": follow_ups})
    assert few[0].warning and "too few" in few[0].warning
