"""Money and business periods: Decimal only, rounded once, explicitly."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

FEN = Decimal("0.01")
ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


def round_money(amount: Decimal, *, quantum: Decimal = FEN, mode: str = "half_up") -> Decimal:
    """Round to the minor unit (fen by default), half-up unless configured otherwise."""
    return amount.quantize(quantum, rounding=ROUNDING_MODES[mode])


def business_month(moment: dt.datetime, tz: str = "Asia/Shanghai") -> str:
    """The business period ('YYYY-MM') a moment falls in, in the company's time zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.year:04d}-{local.month:02d}"
