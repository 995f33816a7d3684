"""The vectorised scoring agrees with the pure rules, row by row."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from zhanli_retention.core.advice import BandSettings
from zhanli_retention.core.features import FEATURES
from zhanli_retention.core.rules import RuleSettings, evaluate
from zhanli_retention.modeling.pipeline import rule_flags, score

cells = st.one_of(st.just(math.nan), st.floats(0, 12, allow_nan=False))


@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.just(len(FEATURES))), elements=cells))
@settings(max_examples=60, deadline=None)
def test_matrix_rules_agree_with_the_pure_rules(x: np.ndarray) -> None:
    rules = RuleSettings()
    fired, names = rule_flags(x, rules)
    rows = [dict(zip(FEATURES, r, strict=True)) for r in x.tolist()]
    for i, row in enumerate(rows):
        assert [n for n, f in zip(names, fired[i], strict=True) if f] == evaluate(row, rules).fired
    scores = score(
        [str(i) for i in range(len(rows))],
        rows,
        x,
        None,
        rules=rules,
        bands=BandSettings(),
        probation_days=180,
    )
    for s, row in zip(scores, rows, strict=True):
        result = evaluate(row, rules)
        assert s.rules_fired == result.fired and s.band == result.band(rules)
        assert s.risk == {30: None, 60: None, 90: None}
        expected = {
            "training_completion": "training_completion",
            "mentor_rating": "mentor_rating",
            "zero_growth": "zero_growth_weeks",
        }
        assert sorted(f["feature"] for f in s.factors) == sorted(expected[r] for r in result.fired)
        assert bool(s.interventions)
