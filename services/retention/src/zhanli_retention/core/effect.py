"""The effect of interventions: retention of people who received one against comparable
people who did not, matched on their risk at the time (nearest neighbour within a caliper,
without replacement), with a normal-approximation confidence interval of the difference.

This is an observational comparison: matching on risk removes what the model knows, not
what it does not (a manager who intervenes may pick people for reasons it never saw).
The report says so."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    key: str
    risk: float
    stayed: bool


@dataclass(frozen=True)
class EffectReport:
    treated: int
    matched: int
    unmatched: int
    treated_retention: float
    control_retention: float
    difference: float
    ci_low: float
    ci_high: float
    caliper: float
    reliable: bool
    pairs: tuple[tuple[str, str], ...]


def matched_effect(
    treated: Sequence[Unit],
    untreated: Sequence[Unit],
    *,
    caliper: float = 0.05,
    min_pairs: int = 20,
    z: float = 1.96,
) -> EffectReport:
    pool = sorted(untreated, key=lambda u: (u.risk, u.key))
    used = [False] * len(pool)
    pairs: list[tuple[Unit, Unit]] = []
    # Hardest to match first (highest risk), deterministic order.
    for t in sorted(treated, key=lambda u: (-u.risk, u.key)):
        best = -1
        best_d = caliper
        for i, c in enumerate(pool):
            if used[i]:
                continue
            d = abs(c.risk - t.risk)
            if d <= best_d:
                if best < 0 or d < best_d:
                    best, best_d = i, d
        if best >= 0:
            used[best] = True
            pairs.append((t, pool[best]))
    m = len(pairs)
    if m == 0:
        return EffectReport(
            len(treated),
            0,
            len(treated),
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            caliper,
            False,
            (),
        )
    pt = sum(p[0].stayed for p in pairs) / m
    pc = sum(p[1].stayed for p in pairs) / m
    diff = pt - pc
    # Paired difference of proportions: variance from the discordant pairs.
    b = sum(1 for t, c in pairs if t.stayed and not c.stayed)
    c_ = sum(1 for t, c in pairs if c.stayed and not t.stayed)
    var = ((b + c_) / m - ((b - c_) / m) ** 2) / m
    se = math.sqrt(max(var, 0.0))
    return EffectReport(
        treated=len(treated),
        matched=m,
        unmatched=len(treated) - m,
        treated_retention=pt,
        control_retention=pc,
        difference=diff,
        ci_low=max(-1.0, diff - z * se),
        ci_high=min(1.0, diff + z * se),
        caliper=caliper,
        reliable=m >= min_pairs,
        pairs=tuple((t.key, c.key) for t, c in pairs),
    )
