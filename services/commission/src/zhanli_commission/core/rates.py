"""Pure commission math: no I/O, no framework."""

from __future__ import annotations

from decimal import Decimal

from zhanli_shared.money import round_money


def flat_rate_commission(basis: Decimal, rate: Decimal, *, rounding: str = "half_up") -> Decimal:
    """Commission on ``basis`` at a flat ``rate``, rounded once to the fen."""
    if basis < 0:
        raise ValueError("basis must not be negative")
    return round_money(basis * rate, mode=rounding)
