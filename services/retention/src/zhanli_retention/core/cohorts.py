"""Probation retention by cohort: by hire month, match-score band, training-completion band
or mentor. A person counts once their probation outcome is known (they passed its end, or
left before it); people still in probation are shown, not counted in the rate."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zhanli_retention.core.features import PersonFacts

UNKNOWN = "unknown"


@dataclass(frozen=True)
class CohortRow:
    group: str
    hired: int
    known: int
    retained: int
    left_in_probation: int
    in_probation: int

    @property
    def retention(self) -> float | None:
        return self.retained / self.known if self.known else None

    def as_list(self) -> list[object]:
        r = self.retention
        return [
            self.group,
            self.hired,
            self.known,
            self.retained,
            self.left_in_probation,
            self.in_probation,
            None if r is None else round(r, 4),
        ]


COLUMNS = (
    "group",
    "hired",
    "outcome_known",
    "retained",
    "left_in_probation",
    "in_probation",
    "probation_retention",
)
COLUMNS_ZH = ("分组", "入职人数", "结果已知", "留任", "试用期内离职", "试用期中", "试用期留存率")


def match_band(p: PersonFacts, as_of: dt.date) -> str:
    v = p.timeline.latest("match_score", as_of)
    if math.isnan(v):
        return UNKNOWN
    return "<60" if v < 60 else "60-80" if v < 80 else ">=80"


def training_band(p: PersonFacts, as_of: dt.date) -> str:
    v = p.timeline.latest("training_completion", as_of)
    if math.isnan(v):
        return UNKNOWN
    return "<70%" if v < 0.7 else "70-90%" if v <= 0.9 else ">90%"


def cohort_report(
    people: Sequence[PersonFacts],
    key: Callable[[PersonFacts, dt.date], str],
    today: dt.date,
    probation_days: int,
) -> list[CohortRow]:
    """``key(person, as_of)`` names the group; ``as_of`` is the end of probation, the exit
    or today, whichever comes first (training completion is read when probation ends)."""
    acc: dict[str, list[int]] = {}
    for p in people:
        if p.hired_on > today:
            continue
        end = p.hired_on + dt.timedelta(days=probation_days)
        left = p.left_on if p.left_on is not None and p.left_on <= today else None
        as_of = min(d for d in (end, left or end, today) if d is not None)
        g = key(p, as_of)
        a = acc.setdefault(g, [0, 0, 0, 0, 0])
        a[0] += 1
        if left is not None and left < end:
            a[1] += 1
            a[3] += 1
        elif end <= today:
            a[1] += 1
            a[2] += 1
        else:
            a[4] += 1
    return [CohortRow(g, *v) for g, v in sorted(acc.items())]
