"""Point-in-time feature snapshots.

Every signal a person produces (a training completion rate, a mentor rating, a day's
growth, a commission period total, a manager change...) is kept as a dated fact. A snapshot
"as of" a day sees only the facts observed on or before that day: training rows built from
snapshots never see the future (the label is about what happens after the day).

Protected attributes (gender, age, ethnicity, marital status...) are never features: they
are not signals here at all, and the fairness report reads them from elsewhere.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

NAN = float("nan")

# The signals the feature store keeps (name -> meaning), fed by events.
SIGNALS: dict[str, str] = {
    "training_completion": "share of assigned training completed, 0..1 (learning)",
    "overdue_courses": "courses past their due date (learning)",
    "mentor_rating": "latest mentor rating, 0..10 (learning)",
    "mentor_task_completion": "share of mentor tasks done, 0..1 (learning)",
    "skill_improvement": "week-over-week skill assessment improvement (learning)",
    "kpi_score": "weighted KPI score of the latest period, 1 = 100 % (KPI)",
    "performance_growth": "a day's performance growth (KPI)",
    "commission_period_total": "commission earned in the period so far (commission)",
    "match_score": "match score at hire, 0..100 (talent)",
    "hire_pool": "pool at hire: 0 elimination, 1 review, 2 focus (talent)",
    "manager_change": "the person's manager changed (directory)",
    "target_adjustment": "the person's target was adjusted (KPI / commission)",
}

# The model's features, in a fixed order (the model's columns).
FEATURES: tuple[str, ...] = (
    "tenure_weeks",
    "probation_day",
    "in_probation",
    "training_completion",
    "overdue_courses",
    "mentor_rating",
    "mentor_task_completion",
    "skill_improvement",
    "kpi_score",
    "kpi_trend",
    "zero_growth_weeks",
    "growth_last_week",
    "commission_vs_peers",
    "match_score",
    "hire_pool",
    "manager_changes",
    "target_adjustments",
    "weeks_since_training_update",
)

FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "tenure_weeks": ("Weeks of tenure", "入职周数"),
    "probation_day": ("Day of probation", "试用期天数"),
    "in_probation": ("In probation", "处于试用期"),
    "training_completion": ("Training completion", "培训完成率"),
    "overdue_courses": ("Overdue courses", "逾期课程数"),
    "mentor_rating": ("Mentor rating", "导师评分"),
    "mentor_task_completion": ("Mentor task completion", "导师任务完成率"),
    "skill_improvement": ("Skill improvement", "技能提升"),
    "kpi_score": ("KPI score", "KPI 得分"),
    "kpi_trend": ("KPI trend", "KPI 趋势"),
    "zero_growth_weeks": ("Consecutive weeks of zero growth", "连续零增长周数"),
    "growth_last_week": ("Growth last week", "上周业绩增长"),
    "commission_vs_peers": ("Commission against peers", "佣金相对同侪"),
    "match_score": ("Match score at hire", "入职匹配分"),
    "hire_pool": ("Pool at hire", "入职人才池"),
    "manager_changes": ("Manager changes", "更换经理次数"),
    "target_adjustments": ("Target adjustments", "目标调整次数"),
    "weeks_since_training_update": ("Weeks since training progress", "距上次培训进展周数"),
}


@dataclass(frozen=True)
class Signal:
    name: str
    value: float
    observed_on: dt.date


@dataclass
class Timeline:
    """One person's signals, sorted by day per signal, for fast as-of look-ups."""

    days: dict[str, list[dt.date]] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, signals: Iterable[Signal]) -> Timeline:
        by: dict[str, list[tuple[dt.date, float]]] = {}
        for s in signals:
            by.setdefault(s.name, []).append((s.observed_on, s.value))
        tl = cls()
        for name, pairs in by.items():
            pairs.sort(key=lambda p: p[0])  # stable: same-day facts keep arrival order
            tl.days[name] = [p[0] for p in pairs]
            tl.values[name] = [p[1] for p in pairs]
        return tl

    def _upto(self, name: str, as_of: dt.date) -> int:
        """How many facts of ``name`` were observed on or before ``as_of``."""
        days = self.days.get(name)
        return bisect.bisect_right(days, as_of) if days else 0

    def latest(self, name: str, as_of: dt.date) -> float:
        n = self._upto(name, as_of)
        return self.values[name][n - 1] if n else NAN

    def latest_day(self, name: str, as_of: dt.date) -> dt.date | None:
        n = self._upto(name, as_of)
        return self.days[name][n - 1] if n else None

    def previous(self, name: str, as_of: dt.date) -> float:
        n = self._upto(name, as_of)
        return self.values[name][n - 2] if n >= 2 else NAN

    def count(self, name: str, as_of: dt.date) -> int:
        return self._upto(name, as_of)

    def window_sum(self, name: str, start: dt.date, end: dt.date) -> float | None:
        """Sum of the facts observed in [start, end], None when there are none."""
        days = self.days.get(name)
        if not days:
            return None
        lo = bisect.bisect_left(days, start)
        hi = bisect.bisect_right(days, end)
        if hi <= lo:
            return None
        return float(sum(self.values[name][lo:hi]))


def zero_growth_weeks(tl: Timeline, as_of: dt.date, *, epsilon: float = 0.0) -> float:
    """Consecutive 7-day windows, counted back from the latest growth fact observed on or
    before ``as_of``, whose summed growth was at most ``epsilon`` (no growth). A window
    without any growth fact ends the run (unknown, not zero); NaN when nothing was ever
    observed."""
    end = tl.latest_day("performance_growth", as_of)
    if end is None:
        return NAN
    weeks = 0
    while weeks < 52:
        start = end - dt.timedelta(days=6)
        total = tl.window_sum("performance_growth", start, end)
        if total is None or total > epsilon:
            break
        weeks += 1
        end = start - dt.timedelta(days=1)
    return float(weeks)


@dataclass(frozen=True)
class PersonFacts:
    employee_id: str
    hired_on: dt.date
    left_on: dt.date | None
    timeline: Timeline


def snapshot(person: PersonFacts, as_of: dt.date, *, probation_days: int = 180) -> dict[str, float]:
    """The person's features as of ``as_of`` (only facts observed on or before it).

    ``commission_vs_peers`` is the raw period total here; ``relative_to_peers`` turns it
    into a ratio once every person's snapshot for the same day is known."""
    tl = person.timeline
    tenure_days = (as_of - person.hired_on).days
    kpi = tl.latest("kpi_score", as_of)
    kpi_prev = tl.previous("kpi_score", as_of)
    last_training = tl.latest_day("training_completion", as_of)
    growth = tl.window_sum("performance_growth", as_of - dt.timedelta(days=6), as_of)
    return {
        "tenure_weeks": tenure_days / 7.0,
        "probation_day": float(min(tenure_days, probation_days)),
        "in_probation": 1.0 if tenure_days < probation_days else 0.0,
        "training_completion": tl.latest("training_completion", as_of),
        "overdue_courses": tl.latest("overdue_courses", as_of),
        "mentor_rating": tl.latest("mentor_rating", as_of),
        "mentor_task_completion": tl.latest("mentor_task_completion", as_of),
        "skill_improvement": tl.latest("skill_improvement", as_of),
        "kpi_score": kpi,
        "kpi_trend": kpi - kpi_prev if not (math.isnan(kpi) or math.isnan(kpi_prev)) else NAN,
        "zero_growth_weeks": zero_growth_weeks(tl, as_of),
        "growth_last_week": growth if growth is not None else NAN,
        "commission_vs_peers": tl.latest("commission_period_total", as_of),
        "match_score": tl.latest("match_score", as_of),
        "hire_pool": tl.latest("hire_pool", as_of),
        "manager_changes": float(tl.count("manager_change", as_of)),
        "target_adjustments": float(tl.count("target_adjustment", as_of)),
        "weeks_since_training_update": (
            (as_of - last_training).days / 7.0 if last_training is not None else NAN
        ),
    }


def relative_to_peers(
    rows: Sequence[dict[str, float]], groups: Sequence[object], name: str = "commission_vs_peers"
) -> None:
    """Replace ``rows[i][name]`` (a raw amount) by its ratio to the median of the rows in
    the same group (the peers seen the same day), in place. NaN stays NaN; a zero median
    gives 1.0 for zero and 2.0 for anything above it (capped, no division by zero)."""
    by: dict[object, list[int]] = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    for idx in by.values():
        vals = sorted(rows[i][name] for i in idx if not math.isnan(rows[i][name]))
        if not vals:
            continue
        mid = len(vals) // 2
        median = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
        for i in idx:
            v = rows[i][name]
            if math.isnan(v):
                continue
            if median > 0:
                rows[i][name] = min(v / median, 10.0)
            else:
                rows[i][name] = 1.0 if v <= 0 else 2.0


def as_vector(features: Mapping[str, float], names: Sequence[str] = FEATURES) -> list[float]:
    return [float(features.get(n, NAN)) for n in names]
