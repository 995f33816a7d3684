"""Which plan prices a person's period, and the quota they carry in it: pure, no I/O.

Plans are assigned to a person, an org unit (and everything below it) or a job role, each
effective-dated by business month (``YYYY-MM``, ``to`` inclusive, open-ended when None);
the most specific assignment covering the period wins: the person, then the deepest unit
on their org path, then their role. A plan's versions never overlap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Literal, TypeVar

from zhanli_commission.core.quotas import effective_quota

OPEN_END = "9999-12"
Target = tuple[str, str]  # (target type, target id): ("person", id), ("unit", id), ("role", r)
T = TypeVar("T")


def covers(effective_from: str, effective_to: str | None, period: str) -> bool:
    return effective_from <= period <= (effective_to or OPEN_END)


def targets_of(employee_id: str, org_path: Sequence[str], job_role: str) -> list[Target]:
    """The assignment targets that can reach a person, most specific first."""
    return [
        ("person", employee_id),
        *(("unit", unit) for unit in reversed(org_path)),
        ("role", job_role),
    ]


def choose_plan(targets: Sequence[Target], assigned: Mapping[Target, T]) -> T | None:
    """What the most specific of ``targets`` is assigned (``assigned``: the assignments
    covering the period), or None: the company default applies."""
    return next((assigned[t] for t in targets if t in assigned), None)


def covering(rows: Iterable[tuple[str, str | None, T]], period: str) -> list[T]:
    """The items of ``(effective_from, effective_to, item)`` rows that cover ``period``."""
    return [item for start, end, item in rows if covers(start, end, period)]


def period_quota(
    own: Decimal | None,
    plan_quota: Decimal | None,
    period: str,
    *,
    hired_on: dt.date | None,
    ramp: Sequence[Decimal] = (),
) -> tuple[Decimal | None, Literal["person", "plan"]]:
    """The quota a person carries in ``period`` and where it comes from: their own, else the
    plan's, prorated in the month they join and ramped in their first months (before the
    start date there is nothing to prorate: the full quota)."""
    if own is not None:
        return own, "person"
    if plan_quota is None:
        return None, "plan"
    quota = effective_quota(plan_quota, period, hired_on=hired_on, ramp=ramp)
    return (quota if quota > 0 else plan_quota), "plan"
