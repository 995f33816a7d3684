"""Discrete-time hazard data: one row per person and period of tenure, labelled "leaves within
the next ``horizon`` periods", with people still employed (censored) counted for the periods
they were watched, never dropped nor labelled as stayers beyond what was seen.

``person_periods(spans, as_of=..., period_days=7, horizon=1)`` -> list of ``PersonPeriod``
(person index, period number, the period's start date = the "as of" date of its features,
label). Build the features of each row as of ``row.start`` (point-in-time snapshots), then
``Dataset.from_arrays(spec, X, y, groups=person_ids, time=hire_cohort)`` and train with
``TrainConfig(validation="later")`` (later hire cohorts; a person's rows never straddle the
split).

With ``horizon=1`` the model estimates the weekly hazard ``h``; ``risk_within(h, days)``
turns it into the probability of leaving within 30, 60 or 90 days from the same model
(features held at today's values): ``1 - (1 - h) ** (days / period_days)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PersonSpan:
    person_id: str
    hired_on: dt.date
    left_on: dt.date | None = None  # the last day employed, None while employed


@dataclass(frozen=True)
class PersonPeriod:
    person: int  # index into the spans
    period: int  # 0 = the first period of tenure
    start: dt.date  # features are taken as of this day
    label: int  # 1 = leaves within the next ``horizon`` periods


def person_periods(
    spans: Sequence[PersonSpan],
    *,
    as_of: dt.date,
    period_days: int = 7,
    horizon: int = 1,
    max_periods: int | None = None,
) -> list[PersonPeriod]:
    """Rows for every period each person was employed at its start and whose outcome is
    known: the window ``[start, start + horizon periods)`` either contains the exit (label
    1) or ended by ``as_of`` with the person still there (label 0). Windows still open at
    ``as_of`` without an exit are censored: left out (their label is unknown)."""
    if period_days < 1 or horizon < 1:
        raise ValueError("period_days and horizon must be at least 1")
    window = dt.timedelta(days=period_days * horizon)
    step = dt.timedelta(days=period_days)
    rows: list[PersonPeriod] = []
    for index, span in enumerate(spans):
        if span.left_on is not None and span.left_on < span.hired_on:
            continue
        period = 0
        start = span.hired_on
        while start <= as_of and (span.left_on is None or start <= span.left_on):
            if max_periods is not None and period >= max_periods:
                break
            end = start + window  # exclusive
            if span.left_on is not None and span.left_on < end and span.left_on <= as_of:
                rows.append(PersonPeriod(index, period, start, 1))
            elif end <= as_of + dt.timedelta(days=1):
                rows.append(PersonPeriod(index, period, start, 0))
            else:
                break  # censored from here on
            period += 1
            start += step
    return rows


def risk_within(hazard: Any, days: int, *, period_days: int = 7) -> Any:
    """Probability of leaving within ``days`` from a per-period hazard (numbers or a numpy
    array), the features held constant."""
    return 1 - (1 - hazard) ** (days / period_days)
