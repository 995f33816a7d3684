"""The discrete-time hazard dataset, risk over 30/60/90 days, and the cohort split.

One row per person and week of tenure: the features as of the first day of that week and
the label "left within the next ``k`` weeks". People still employed (censored) count for the
weeks whose label is already known (the whole horizon lies before the end of observation);
weeks whose horizon is still open are left out, never labelled "stayed". A person who left
counts up to the week before they left.

With ``k = 1`` the model estimates the weekly hazard h(t | x); the risk of leaving within
H weeks is 1 - prod_{j<H} (1 - h(t + j | x)), with the person's other features held at
their current values (the standard discrete-time survival projection). 30, 60 and 90 days
are 4, 9 and 13 weeks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zhanli_retention.core.features import FEATURES, PersonFacts, relative_to_peers, snapshot

HORIZON_WEEKS: dict[int, int] = {30: 4, 60: 9, 90: 13}


@dataclass(frozen=True)
class HazardSettings:
    horizon_weeks: int = 1
    max_weeks: int = 52
    probation_days: int = 180


@dataclass
class HazardDataset:
    """Rows of the hazard model: ``x`` (features in ``FEATURES`` order), ``y`` (0/1),
    ``person`` (employee id of the row), ``week`` (week of tenure), ``as_of`` (day of the
    snapshot) and ``cohort`` (hire month, YYYY-MM)."""

    x: list[list[float]] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    person: list[str] = field(default_factory=list)
    week: list[int] = field(default_factory=list)
    as_of: list[dt.date] = field(default_factory=list)
    cohort: list[str] = field(default_factory=list)
    features: tuple[str, ...] = FEATURES
    censored_people: int = 0
    left_people: int = 0

    def __len__(self) -> int:
        return len(self.y)

    @property
    def positives(self) -> int:
        return sum(self.y)


def person_weeks(
    hired_on: dt.date,
    left_on: dt.date | None,
    observed_until: dt.date,
    settings: HazardSettings,
) -> list[tuple[int, dt.date, int]]:
    """(week, as_of, label) for every week of tenure with a known label."""
    out: list[tuple[int, dt.date, int]] = []
    k_days = 7 * settings.horizon_weeks
    left = left_on if left_on is not None and left_on <= observed_until else None
    for w in range(settings.max_weeks):
        as_of = hired_on + dt.timedelta(days=7 * w)
        if as_of > observed_until:
            break
        if left is not None and as_of >= left:
            break
        horizon_end = as_of + dt.timedelta(days=k_days)
        if left is not None and left <= horizon_end:
            out.append((w, as_of, 1))
            continue
        if horizon_end > observed_until:
            break  # censored: the label of this week is not known yet
        out.append((w, as_of, 0))
    return out


def build_dataset(
    people: Sequence[PersonFacts],
    observed_until: dt.date,
    settings: HazardSettings | None = None,
    *,
    snapshot_fn: Callable[[PersonFacts, dt.date], dict[str, float]] | None = None,
) -> HazardDataset:
    settings = settings or HazardSettings()
    snap = snapshot_fn or (lambda p, d: snapshot(p, d, probation_days=settings.probation_days))
    ds = HazardDataset()
    rows: list[dict[str, float]] = []
    for p in people:
        if p.hired_on > observed_until:
            continue
        if p.left_on is not None and p.left_on <= observed_until:
            ds.left_people += 1
        else:
            ds.censored_people += 1
        for w, as_of, label in person_weeks(p.hired_on, p.left_on, observed_until, settings):
            rows.append(snap(p, as_of))
            ds.y.append(label)
            ds.person.append(p.employee_id)
            ds.week.append(w)
            ds.as_of.append(as_of)
            ds.cohort.append(p.hired_on.strftime("%Y-%m"))
    # Commission against the peers seen in the same calendar week.
    relative_to_peers(rows, [d.isocalendar()[:2] for d in ds.as_of])
    ds.x = [[float(r.get(n, math.nan)) for n in FEATURES] for r in rows]
    return ds


def cumulative_risk(hazards: Sequence[float]) -> float:
    """P(leaving within len(hazards) weeks) from weekly hazards."""
    survive = 1.0
    for h in hazards:
        survive *= 1.0 - min(max(h, 0.0), 1.0)
    return 1.0 - survive


def projected_rows(
    x: Sequence[float], weeks: int, *, probation_days: int = 180
) -> list[list[float]]:
    """The person's feature row moved forward 0..weeks-1 weeks of tenure, other features
    held (for the risk over a horizon from a weekly hazard model)."""
    i_t = FEATURES.index("tenure_weeks")
    i_pd = FEATURES.index("probation_day")
    i_ip = FEATURES.index("in_probation")
    out = []
    for j in range(weeks):
        r = list(x)
        if not math.isnan(r[i_t]):
            r[i_t] = x[i_t] + j
            days = r[i_t] * 7
            r[i_pd] = float(min(days, probation_days))
            r[i_ip] = 1.0 if days < probation_days else 0.0
        out.append(r)
    return out


@dataclass(frozen=True)
class CohortSplit:
    train_cohorts: tuple[str, ...]
    validation_cohorts: tuple[str, ...]

    def is_validation(self, cohort: str) -> bool:
        return cohort in self.validation_cohorts


def split_by_cohort(cohorts_of_people: Sequence[str], validation_share: float = 0.3) -> CohortSplit:
    """Validation = the latest hire cohorts (months) holding about ``validation_share`` of the
    people; training = every earlier cohort. Never a random split of person-weeks: a
    person's weeks are all on one side, and validation people were hired later than any
    training person."""
    if not 0 < validation_share < 1:
        raise ValueError("validation_share must be between 0 and 1")
    counts: dict[str, int] = {}
    for c in cohorts_of_people:
        counts[c] = counts.get(c, 0) + 1
    ordered = sorted(counts)
    if len(ordered) < 2:
        return CohortSplit(tuple(ordered), ())
    total = sum(counts.values())
    val: list[str] = []
    seen = 0
    for c in reversed(ordered):
        if len(val) == len(ordered) - 1:
            break
        if val and seen >= validation_share * total:
            break
        val.append(c)
        seen += counts[c]
    val_set = set(val)
    return CohortSplit(tuple(c for c in ordered if c not in val_set), tuple(sorted(val_set)))
