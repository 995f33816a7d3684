"""Draws and payouts: pure money math, no I/O.

- A draw guarantees ``draw.amount`` per period in the first ``draw.months`` of service: a
  period earning less is topped up; a recoverable top-up is owed back and recovered from
  later earnings above the guarantee (above zero once the guarantee has ended), never more
  than is owed.
- A payout pays the statement total plus the balance carried in when that is positive;
  otherwise it pays nothing and carries the (negative) balance on: never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from zhanli_commission.core.plan import PlanRules
from zhanli_shared.money import FEN

ZERO = Decimal("0.00")


def _money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(FEN)


@dataclass(frozen=True)
class DrawEffect:
    top_up: Decimal
    """The ``draw`` line (>= 0): up to the guaranteed minimum."""
    recovery: Decimal
    """The ``draw_recovery`` line's size (>= 0; the line is negative)."""
    balance_after: Decimal
    guarantee: Decimal | None
    kind: str | None
    in_window: bool


def draw_effect(
    rules: PlanRules | None, month_of_service: int | None, earnings: Decimal, balance: Decimal
) -> DrawEffect:
    """What the draw does to a period that earned ``earnings`` with ``balance`` still owed.

    In the guarantee window (months 1..``draw.months`` of service) the period is topped up to
    ``draw.amount``; a recoverable top-up is owed back. What is owed is recovered from the
    earnings above the guarantee (above zero after the window), never more than owed."""
    draw = rules.draw if rules is not None else None
    in_window = (
        draw is not None and month_of_service is not None and 1 <= month_of_service <= draw.months
    )
    top_up = recovery = ZERO
    threshold = ZERO
    if draw is not None and in_window:
        threshold = draw.amount
        if earnings < draw.amount:
            top_up = _money(draw.amount - earnings)
    if top_up == 0 and balance > 0 and earnings > threshold:
        recovery = _money(min(balance, earnings - threshold))
    owed = top_up if draw is not None and draw.kind == "recoverable" else ZERO
    return DrawEffect(
        top_up=top_up,
        recovery=recovery,
        balance_after=_money(balance + owed - recovery),
        guarantee=draw.amount if draw is not None and in_window else None,
        kind=draw.kind if draw is not None else None,
        in_window=in_window,
    )


def payout_split(total: Decimal, carried_in: Decimal) -> tuple[Decimal, Decimal]:
    """(amount paid, balance carried): the net is paid when positive, else carried."""
    net = _money(total + carried_in)
    return (net, ZERO) if net > 0 else (ZERO, net)
