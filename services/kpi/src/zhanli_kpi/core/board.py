"""A person's board for one period, from the period's aggregates: pure.

Inputs: the indicator definitions (aggregation, ratio parts, formula), the aggregates kept
per indicator (total, count, latest), the plan's lines with their targets. Output: each
line's value, target, completion, score, contribution (weight x score) and gap, and the
weighted total (plus team bonus points). An indicator without a value yet scores 0 and says
why (``note``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zhanli_kpi.core import curves, formula
from zhanli_kpi.core.curves import Curve


@dataclass(frozen=True)
class Aggregate:
    total: float = 0.0
    count: int = 0
    latest: float | None = None


@dataclass(frozen=True)
class Line:
    indicator: str
    weight: float
    target: float
    curve: Curve


@dataclass
class LineResult:
    indicator: str
    weight: float
    target: float
    value: float | None
    completion: float | None
    score: float
    contribution: float
    gap: float | None
    note: str | None = None


@dataclass
class Board:
    lines: list[LineResult]
    bonus: float = 0.0
    values: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(line.contribution for line in self.lines) + self.bonus

    def weakest(self, n: int = 1) -> list[LineResult]:
        """The lines furthest below target, weighted (what costs the most points)."""
        short = [line for line in self.lines if line.score < 1]
        return sorted(short, key=lambda x: (-(x.weight * (1 - x.score)), x.indicator))[:n]


def base_value(aggregation: str, agg: Aggregate | None) -> float | None:
    if agg is None:
        return None
    if aggregation == "sum":
        return agg.total
    if aggregation == "count":
        return float(agg.count)
    if aggregation == "average":
        return agg.total / agg.count if agg.count else None
    if aggregation == "latest":
        return agg.latest
    return None


def values(
    library: Mapping[str, Any],
    derived: Mapping[str, formula.Formula],
    aggregates: Mapping[str, Aggregate],
) -> tuple[dict[str, float], dict[str, str]]:
    """Every indicator's value this period (base ones from their aggregates, then the
    derived ones in dependency order); why each derived one without a value has none.
    A sum or count with no facts is 0; an average or latest with none has no value."""
    base: dict[str, float] = {}
    for code, ind in library.items():
        if code in derived:
            continue
        value = base_value(ind.aggregation, aggregates.get(code))
        if value is None and ind.aggregation in ("sum", "count"):
            value = 0.0
        if value is not None:
            base[code] = value
    return formula.evaluate_all(derived, base)


def score_lines(
    lines: Sequence[Line],
    values_: Mapping[str, float],
    undefined: Mapping[str, str],
    *,
    bonus: float = 0.0,
) -> Board:
    out = []
    for line in lines:
        value = values_.get(line.indicator)
        if value is None:
            note = undefined.get(line.indicator, "no value yet")
            out.append(
                LineResult(
                    line.indicator, line.weight, line.target, None, None, 0.0, 0.0, None, note
                )
            )
            continue
        done = curves.completion(line.curve, value, line.target)
        s = curves.shape(line.curve, done)
        out.append(
            LineResult(
                line.indicator,
                line.weight,
                line.target,
                value,
                done,
                s,
                line.weight * s / 100.0,
                curves.gap(line.curve, value, line.target),
            )
        )
    return Board(out, bonus, dict(values_))


def pro_rata_pace(day: int, days_in_period: int) -> float:
    """The share of the period gone by the end of ``day`` (1-based)."""
    return min(max(day, 0), days_in_period) / days_in_period


def behind_pace(completion: float, pace: float, threshold: float = 0.8) -> bool:
    """Completion below ``threshold`` of the pro-rata pace (default: under 80 %)."""
    return pace > 0 and completion < threshold * pace
