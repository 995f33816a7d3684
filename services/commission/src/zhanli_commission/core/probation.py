"""Flexible probation targets (DOMAIN.md section 4): pure, no I/O.

In the first ``months`` of service the monthly target is ``deals_per_month`` (3); lowered
to ``lowered_deals`` (2) when a weekly skill improvement above ``skill_improvement_over``
(10 %) was measured that month; raised to ``raised_deals`` (4) when a daily performance
growth above ``growth_over`` (5 %) was, and then meeting it pays ``raised_reward``. The
raised target wins when both signals came.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from zhanli_commission.core.plan import ProbationTargets

Adjustment = Literal["default", "lowered", "raised"]


def on_probation(cfg: ProbationTargets, status: str, month_of_service: int | None) -> bool:
    """In probation: the directory says so or the person is in their first months, and
    never past ``cfg.months`` of service."""
    n = month_of_service
    if n is not None and n > cfg.months:
        return False
    return status == "probation" or (n is not None and 1 <= n <= cfg.months)


def probation_target(
    cfg: ProbationTargets, skill: Decimal | None, growth: Decimal | None
) -> tuple[int, Adjustment]:
    """The month's target in deals, and how it was adjusted by the month's best signals."""
    if growth is not None and growth > cfg.growth_over:
        return cfg.raised_deals, "raised"
    if skill is not None and skill > cfg.skill_improvement_over:
        return cfg.lowered_deals, "lowered"
    return cfg.deals_per_month, "default"


def probation_reward(
    cfg: ProbationTargets, target: int, adjustment: Adjustment, deals: int
) -> tuple[bool, Decimal]:
    """(target met, the reward): only a raised target that is met pays."""
    met = deals >= target
    return met, cfg.raised_reward if adjustment == "raised" and met else Decimal("0.00")
