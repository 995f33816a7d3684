"""Learning a competency profile from the company's own top performers.

People are ranked by a KPI (their mean score over a window); the top share (default 20%)
is the top group. For every trait observed on them (behaviour metrics such as weekly
client follow-ups, assessment results such as stress resilience) the profile shows how
the top group differs from the rest: the means, Hedges' g (Cohen's d with the small-
sample correction) and its approximate 95% interval, and a warning where either group is
too small to tell. The suggested threshold is the top group's 25th percentile (three in
four top performers clear it); the suggested weight is proportional to |g|, and zero for
a trait whose interval includes 0. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MIN_GROUP = 10  # below this in either group the effect size is flagged unreliable


@dataclass(frozen=True)
class TraitEffect:
    trait: str
    n_top: int
    n_rest: int
    mean_top: float | None
    mean_rest: float | None
    effect_size: float | None  # Hedges' g, top minus rest
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool
    suggested_threshold: float | None
    suggested_weight: float
    warning: str | None


def top_group(kpi: Mapping[str, float], share: float = 0.2) -> set[str]:
    """The top ``share`` of people by KPI (at least one; ties broken by id, so the group
    is the same on every run)."""
    if not kpi:
        return set()
    if not 0 < share < 1:
        raise ValueError("share must be between 0 and 1")
    k = max(1, math.ceil(share * len(kpi)))
    ranked = sorted(kpi.items(), key=lambda item: (-item[1], item[0]))
    return {pid for pid, _ in ranked[:k]}


def hedges_g(top: Sequence[float], rest: Sequence[float]) -> tuple[float, float, float] | None:
    """Hedges' g of ``top`` minus ``rest`` with its approximate 95% interval; None when
    either group has fewer than two values or both have no spread."""
    n1, n2 = len(top), len(rest)
    if n1 < 2 or n2 < 2:
        return None
    a, b = np.asarray(top, dtype=float), np.asarray(rest, dtype=float)
    pooled = ((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2)
    diff = float(a.mean() - b.mean())
    if pooled <= 1e-12:
        if abs(diff) <= 1e-12:
            return None
        pooled = 1e-12
    d = diff / math.sqrt(pooled)
    g = d * (1 - 3 / (4 * (n1 + n2) - 9))
    se = math.sqrt((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2)))
    return g, g - 1.96 * se, g + 1.96 * se


def trait_effects(
    kpi: Mapping[str, float],
    observations: Mapping[str, Mapping[str, float]],
    *,
    share: float = 0.2,
    lower_is_better: frozenset[str] = frozenset(),
) -> list[TraitEffect]:
    """The effect of every trait in ``observations`` (trait -> person -> value) among the
    people ranked in ``kpi``."""
    top = top_group(kpi, share)
    effects: list[TraitEffect] = []
    for trait in sorted(observations):
        values = observations[trait]
        t = [v for pid, v in values.items() if pid in kpi and pid in top]
        r = [v for pid, v in values.items() if pid in kpi and pid not in top]
        stats = hedges_g(t, r)
        higher = trait not in lower_is_better
        warning = None
        if len(t) < MIN_GROUP or len(r) < MIN_GROUP:
            warning = (
                f"too few people to tell: {len(t)} in the top group, {len(r)} in the rest "
                f"(at least {MIN_GROUP} each)"
            )
        threshold = None
        if t:
            threshold = float(np.percentile(t, 25 if higher else 75))
        g = lo = hi = None
        weight = 0.0
        if stats is not None:
            g, lo, hi = stats
            signed = g if higher else -g
            if lo > 0 or hi < 0:
                weight = max(signed, 0.0)
        effects.append(
            TraitEffect(
                trait=trait,
                n_top=len(t),
                n_rest=len(r),
                mean_top=float(np.mean(t)) if t else None,
                mean_rest=float(np.mean(r)) if r else None,
                effect_size=g,
                ci_low=lo,
                ci_high=hi,
                higher_is_better=higher,
                suggested_threshold=threshold,
                suggested_weight=weight,
                warning=warning,
            )
        )
    total = sum(e.suggested_weight for e in effects)
    if total > 0:
        effects = [
            TraitEffect(**{**e.__dict__, "suggested_weight": round(e.suggested_weight / total, 4)})
            for e in effects
        ]
    return effects
