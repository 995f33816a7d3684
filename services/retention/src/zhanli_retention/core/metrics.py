"""Survival and ranking metrics the toolkit does not have: Harrell's concordance and
precision at the top k."""

from __future__ import annotations

import math
from collections.abc import Sequence


def concordance(risk: Sequence[float], time: Sequence[float], event: Sequence[int]) -> float:
    """Harrell's C: among comparable pairs (the one who left earlier did leave), the share
    where the one who left earlier had the higher risk (ties count a half). NaN when no
    pair is comparable."""
    n = len(risk)
    if not (len(time) == len(event) == n):
        raise ValueError("risk, time and event must have the same length")
    order = sorted(range(n), key=lambda i: time[i])
    concordant = 0.0
    comparable = 0
    for a, i in enumerate(order):
        if not event[i]:
            continue
        for j in order[a + 1 :]:
            if time[j] <= time[i]:
                continue  # tied times are not comparable
            comparable += 1
            if risk[i] > risk[j]:
                concordant += 1
            elif risk[i] == risk[j]:
                concordant += 0.5
    return concordant / comparable if comparable else math.nan


def precision_at_k(score: Sequence[float], label: Sequence[int], k: int) -> float:
    """Share of positives among the ``k`` highest scores (ties broken by position)."""
    if k <= 0 or not score:
        return math.nan
    k = min(k, len(score))
    top = sorted(range(len(score)), key=lambda i: (-score[i], i))[:k]
    return sum(label[i] for i in top) / k
