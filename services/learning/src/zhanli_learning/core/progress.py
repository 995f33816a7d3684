"""Progress, overdue items and the weekly skill improvement: pure, no I/O.

- **Completion rate** of a path: completed items / items (0 for an empty path).
- **Overdue**: an unfinished item past its due date first reminds the learner (day 1
  after the due date), then, ``escalate_after_days`` later, escalates to the manager.
  Each stage fires once per item (the caller keeps what it already sent).
- **Weekly skill improvement** (what commission's flexible probation target reads): the
  latest score of each skill at the end of the ISO week against the latest score of the
  same skill before the week began, over the skills assessed before the week:
  ``(now - before) / before`` summed over those skills. None when nothing was assessed
  before the week (a first assessment is a baseline, not an improvement) or nothing was
  re-assessed during it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Stage = Literal["none", "remind", "escalate"]


def completion_rate(done: int, total: int) -> Decimal:
    if total <= 0:
        return Decimal("0.0000")
    return (Decimal(done) / Decimal(total)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def overdue_stage(
    due_on: dt.date, today: dt.date, completed: bool, escalate_after_days: int = 3
) -> Stage:
    if completed or today <= due_on:
        return "none"
    if (today - due_on).days > escalate_after_days:
        return "escalate"
    return "remind"


@dataclass(frozen=True)
class Score:
    skill: str
    score: int
    on: dt.date


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_bounds(week: str) -> tuple[dt.date, dt.date]:
    year, number = week.split("-W")
    monday = dt.date.fromisocalendar(int(year), int(number), 1)
    return monday, monday + dt.timedelta(days=6)


def _latest(scores: Iterable[Score], until: dt.date) -> dict[str, Score]:
    out: dict[str, Score] = {}
    for s in scores:
        if s.on <= until:
            cur = out.get(s.skill)
            if cur is None or s.on >= cur.on:
                out[s.skill] = s
    return out


def weekly_improvement(scores: Iterable[Score], week: str) -> Decimal | None:
    """The week's improvement (0.15 = 15 %), or None (see the module's doc)."""
    scores = list(scores)
    monday, sunday = week_bounds(week)
    before = _latest(scores, monday - dt.timedelta(days=1))
    after = _latest(scores, sunday)
    skills = [k for k in before if after[k].on >= monday]
    if not skills:
        return None
    base = sum(before[k].score for k in before)
    if base <= 0:
        return None
    now = sum(after[k].score for k in before)
    return (Decimal(now - base) / Decimal(base)).quantize(
        Decimal("0.000001"), rounding=ROUND_HALF_UP
    )
