"""Splitting money across several people: exact to the fen, largest remainders first."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

HUNDRED = Decimal(100)


class SplitError(ValueError):
    pass


def check_shares(shares: Sequence[Decimal]) -> None:
    if not shares:
        raise SplitError("a split needs at least one share")
    if any(s <= 0 for s in shares):
        raise SplitError("every share must be positive")
    if sum(shares, Decimal(0)) != HUNDRED:
        raise SplitError(f"shares must total 100%, not {sum(shares, Decimal(0))}%")


def split_amount(amount: Decimal, shares: Sequence[Decimal], *, minor: int = 100) -> list[Decimal]:
    """``amount`` divided by percentage ``shares`` (total 100) in minor units.

    Each part is floored to the minor unit; the leftover units go one each to the largest
    remainders (ties: the earlier share), so the parts always sum exactly to ``amount``.
    Works for negative amounts (refunds) by splitting the magnitude.
    """
    check_shares(shares)
    sign = -1 if amount < 0 else 1
    units = int((abs(amount) * minor).to_integral_value())
    if Decimal(units) != abs(amount) * minor:
        raise SplitError(f"{amount} is not a whole number of minor units")
    exact = [Decimal(units) * s / HUNDRED for s in shares]
    floors = [int(e) for e in exact]
    leftover = units - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * Decimal(f) / minor for f in floors]
