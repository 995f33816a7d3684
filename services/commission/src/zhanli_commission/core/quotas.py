"""Quotas per period: prorated for a mid-period start, ramped through probation."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from zhanli_shared.money import round_money


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(x) for x in period.split("-"))
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, 1), dt.date(year, month, last)


def months_of_service(hired_on: dt.date, period: str) -> int:
    """1 for the month the person joined, 2 for the next, ...; 0 before joining."""
    year, month = (int(x) for x in period.split("-"))
    n = (year - hired_on.year) * 12 + (month - hired_on.month) + 1
    return max(n, 0)


def effective_quota(
    base: Decimal,
    period: str,
    *,
    hired_on: dt.date | None = None,
    ramp: Sequence[Decimal] = (),
) -> Decimal:
    """The quota a person carries in ``period``.

    Ramp: in the n-th month of service the quota is ``ramp[n-1]`` of the base (probation).
    Proration: in the month someone joins, only the days from the start date count.
    Rounded once, to the fen.
    """
    quota = base
    if hired_on is not None:
        n = months_of_service(hired_on, period)
        if n == 0:
            return Decimal("0.00")
        if n <= len(ramp):
            quota = quota * ramp[n - 1]
        start, end = period_bounds(period)
        if n == 1 and hired_on > start:
            days = (end - start).days + 1
            quota = quota * Decimal((end - hired_on).days + 1) / Decimal(days)
    return round_money(quota)
