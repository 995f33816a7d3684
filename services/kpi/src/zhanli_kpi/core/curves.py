"""Scoring curves: an indicator's actual value against its target -> a score (1.0 = 100 %).

- ``higher`` (higher is better): actual / target.
- ``lower`` (lower is better): target / actual; an actual of 0 or less is the best there
  is and scores the cap (or ``MAX_SCORE`` without one).
- ``lower_baseline`` (lower is better, against a starting point): (baseline - actual) /
  (baseline - target): 0 at the baseline, 1 on target; needs baseline > target.
- ``closer`` (closer to target is better): 1 - |actual - target| / tolerance.

The raw ratio is the *completion*. Then, in this order: below ``floor`` (a completion) the
score is 0; ``bands`` (optional) turn the completion into a step score (the score of the
highest band reached); the score is never below 0 and never above ``cap`` (e.g. 1.2) nor
``MAX_SCORE``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

CurveKind = Literal["higher", "lower", "lower_baseline", "closer"]
KINDS: tuple[str, ...] = ("higher", "lower", "lower_baseline", "closer")
MAX_SCORE = 10.0  # the ceiling of any one score (the score event's own bound)


class CurveError(ValueError):
    """A curve or target that cannot score (names the offending field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Band:
    """From this completion on (inclusive), the score is ``score``."""

    from_completion: float
    score: float


@dataclass(frozen=True)
class Curve:
    kind: CurveKind = "higher"
    cap: float | None = None
    floor: float | None = None
    baseline: float | None = None
    tolerance: float | None = None
    bands: tuple[Band, ...] = field(default=())


def check(curve: Curve, target: float) -> None:
    """Refuse what cannot score, naming the field: a zero target on a ratio, a baseline not
    above the target, a tolerance of 0, bands out of order."""
    if curve.kind not in KINDS:
        raise CurveError("kind", f"Unknown curve {curve.kind!r}; one of {', '.join(KINDS)}.")
    if not math.isfinite(target):
        raise CurveError("target", "The target must be a finite number.")
    if curve.kind in ("higher", "lower") and target <= 0:
        raise CurveError(
            "target", f"A {curve.kind}-is-better ratio needs a target above 0 (got {target})."
        )
    if curve.kind == "lower_baseline":
        if curve.baseline is None:
            raise CurveError("baseline", "A baseline curve needs a baseline.")
        if not curve.baseline > target:
            raise CurveError("baseline", "The baseline must be above the target (lower is better).")
    if curve.kind == "closer" and (curve.tolerance is None or not curve.tolerance > 0):
        raise CurveError("tolerance", "A closer-is-better curve needs a tolerance above 0.")
    if curve.cap is not None and not 0 < curve.cap <= MAX_SCORE:
        raise CurveError("cap", f"The cap must be above 0 and at most {MAX_SCORE}.")
    if curve.floor is not None and not 0 <= curve.floor < MAX_SCORE:
        raise CurveError("floor", "The floor must be a completion of 0 or more.")
    if curve.cap is not None and curve.floor is not None and curve.floor > curve.cap:
        raise CurveError("floor", "The floor is above the cap.")
    last: Band | None = None
    for band in curve.bands:
        if band.score < 0 or not math.isfinite(band.score):
            raise CurveError("bands", "A band's score must be 0 or more.")
        if last is not None and (
            band.from_completion <= last.from_completion or band.score < last.score
        ):
            raise CurveError(
                "bands", "Bands go up: each starts above the one before and scores no less."
            )
        last = band


def completion(curve: Curve, actual: float, target: float) -> float:
    """The raw ratio of the curve (unbounded; may be negative)."""
    if curve.kind == "higher":
        return actual / target
    if curve.kind == "lower":
        return math.inf if actual <= 0 else target / actual
    if curve.kind == "lower_baseline":
        assert curve.baseline is not None
        return (curve.baseline - actual) / (curve.baseline - target)
    assert curve.tolerance is not None
    return 1.0 - abs(actual - target) / curve.tolerance


def banded(bands: Sequence[Band], value: float) -> float:
    reached = [b.score for b in bands if value >= b.from_completion]
    return reached[-1] if reached else 0.0


def shape(curve: Curve, done: float) -> float:
    """Completion -> score: floor, bands, then bounded to [0, cap]."""
    if curve.floor is not None and done < curve.floor:
        return 0.0
    value = banded(curve.bands, done) if curve.bands else done
    ceiling = MAX_SCORE if curve.cap is None else min(curve.cap, MAX_SCORE)
    return min(max(value, 0.0), ceiling)


def score(curve: Curve, actual: float, target: float) -> float:
    return shape(curve, completion(curve, actual, target))


def weighted_total(lines: Sequence[tuple[float, float]]) -> float:
    """Sum of weight (percent) x score: ``[(50, 1.2), (30, 0.9), (20, 0)]`` -> 0.87."""
    return sum(weight * value for weight, value in lines) / 100.0


def check_weights(weights: Sequence[float], *, field: str = "lines") -> None:
    if not weights:
        raise CurveError(field, "A plan needs at least one indicator.")
    if any(w <= 0 for w in weights):
        raise CurveError(f"{field}.weight", "Every weight must be above 0.")
    total = sum(weights)
    if abs(total - 100.0) > 1e-9:
        raise CurveError(f"{field}.weight", f"The weights total {total:g} %, not 100 %.")


def gap(curve: Curve, actual: float, target: float) -> float:
    """How far the actual is from the target, in the indicator's unit, positive = still to
    go: target - actual when higher is better, actual - target when lower is better, the
    distance for closer-is-better."""
    if curve.kind == "higher":
        return max(target - actual, 0.0)
    if curve.kind in ("lower", "lower_baseline"):
        return max(actual - target, 0.0)
    return abs(actual - target)
