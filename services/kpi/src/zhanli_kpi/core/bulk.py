"""The bulk recompute: every person's weighted score of a period in a few numpy passes.

Inputs are columns: for each plan line, the actual values (one row per person, NaN = no
value), the targets (per person), the curve and the weight. The result is the same as
``curves.score`` and ``curves.weighted_total`` row by row (a property test checks it): an
indicator without a value scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zhanli_kpi.core.curves import MAX_SCORE, Curve


@dataclass(frozen=True)
class Column:
    curve: Curve
    weight: float  # percent
    actual: Any  # ndarray (n,)
    target: Any  # ndarray (n,) or a float


def completion(curve: Curve, actual: Any, target: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if curve.kind == "higher":
            return actual / target
        if curve.kind == "lower":
            return np.where(actual <= 0, np.inf, target / np.where(actual == 0, 1.0, actual))
        if curve.kind == "lower_baseline":
            assert curve.baseline is not None
            return (curve.baseline - actual) / (curve.baseline - target)
        assert curve.tolerance is not None
        return 1.0 - np.abs(actual - target) / curve.tolerance


def shape(curve: Curve, done: Any) -> Any:
    if curve.bands:
        edges = np.array([b.from_completion for b in curve.bands])
        scores = np.concatenate(([0.0], [b.score for b in curve.bands]))
        value = scores[np.searchsorted(edges, done, side="right")]
    else:
        value = done
    ceiling = MAX_SCORE if curve.cap is None else min(curve.cap, MAX_SCORE)
    value = np.clip(value, 0.0, ceiling)
    if curve.floor is not None:
        value = np.where(done < curve.floor, 0.0, value)
    return value


def scores(column: Column) -> Any:
    actual = np.asarray(column.actual, dtype=float)
    value = shape(column.curve, completion(column.curve, actual, column.target))
    return np.where(np.isnan(actual), 0.0, np.nan_to_num(value, nan=0.0))


def weighted_totals(columns: Sequence[Column]) -> Any:
    """One weighted total per row."""
    total: Any = 0.0
    for column in columns:
        total = total + column.weight * scores(column)
    return np.asarray(total, dtype=float) / 100.0
