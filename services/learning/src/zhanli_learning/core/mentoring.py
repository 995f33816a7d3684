"""The mentor programme (DOMAIN.md section 2): pure, no I/O.

- Each ISO week a mentor owes each mentee three tasks: accompany one client visit (a visit
  record), coach one client review report (a comment), hold one performance talk (notes).
  They are due on the week's Sunday; a task not submitted by then reminds the mentor, and
  ``escalate_after_days`` later escalates to the mentor's manager.
- A mentor takes at most ``capacity`` mentees at once.
- Mentees rate their mentor 1-10; a mentor whose average of the latest rating per mentee
  is below the threshold (7) is flagged and a reassignment starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

TASK_KINDS: dict[str, tuple[str, str, str]] = {
    # kind -> (evidence field, title zh, title en)
    "client_visit": ("visit_record", "陪同拜访客户 1 次", "Accompany 1 client visit"),
    "review_coaching": ("comment", "辅导客户复盘报告 1 份", "Coach 1 client review report"),
    "performance_talk": ("notes", "绩效面谈 1 次", "Hold 1 performance talk"),
}


def weekly_tasks(week_monday: dt.date) -> list[tuple[str, dt.date]]:
    """(kind, due date) of one mentee's week."""
    due = week_monday + dt.timedelta(days=6)
    return [(kind, due) for kind in TASK_KINDS]


def has_room(active_mentees: int, capacity: int) -> bool:
    return active_mentees < capacity


def rating_average(latest_per_mentee: Mapping[str, int]) -> Decimal | None:
    if not latest_per_mentee:
        return None
    total = Decimal(sum(latest_per_mentee.values()))
    return (total / len(latest_per_mentee)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def below_threshold(average: Decimal | None, threshold: Decimal = Decimal(7)) -> bool:
    return average is not None and average < threshold
