"""A commission plan's rules: what a plan version says, validated, independent of storage.

A plan version is a JSON document (see the README for a full example). Attainment is the
person's cumulative basis in the period (collected or booked money, or its margin) divided
by the quota; tiers start at an attainment fraction (``from``: 0.5 = 50 % of quota).
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Rate = Annotated[Decimal, Field(ge=0, le=10, max_digits=9, decimal_places=6)]
Fraction = Annotated[Decimal, Field(ge=0, le=100, max_digits=9, decimal_places=6)]
Share = Annotated[Decimal, Field(ge=0, le=1, max_digits=7, decimal_places=6)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Tier(_Strict):
    from_attainment: Fraction = Field(
        alias="from", description="Attainment (fraction of quota) where the tier starts"
    )
    rate: Rate
    name: str | None = Field(default=None, max_length=50)
    accelerator: bool | None = Field(
        default=None,
        description="Pays above the base rate; subject to the KPI gate. Default: starts at "
        "or above 100 % of quota.",
    )

    @property
    def is_accelerator(self) -> bool:
        if self.accelerator is not None:
            return self.accelerator
        return self.from_attainment >= 1

    def label(self, index: int) -> str:
        return self.name or f"tier{index + 1}"


class ClawbackWindow(_Strict):
    within_days: int = Field(ge=0, le=3650)
    share: Share = Field(description="Share of the commission reversed (1 = all)")


class KpiGate(_Strict):
    threshold: Share = Field(description="Weighted KPI score (0-1) needed for accelerators")


class ManagerOverride(_Strict):
    rate: Share = Field(description="Share of each team member's commission paid to the manager")


class Draw(_Strict):
    kind: Literal["recoverable", "non_recoverable"]
    amount: Amount = Field(description="Guaranteed minimum per period")
    months: int = Field(ge=1, le=24, description="Periods of service the guarantee covers")


class ProbationTargets(_Strict):
    """Flexible probation targets (DOMAIN.md section 4); every threshold configurable."""

    months: int = Field(default=3, ge=1, le=12)
    deals_per_month: int = Field(default=3, ge=0)
    lowered_deals: int = Field(default=2, ge=0)
    raised_deals: int = Field(default=4, ge=0)
    skill_improvement_over: Decimal = Field(default=Decimal("0.10"), ge=0, le=10)
    growth_over: Decimal = Field(default=Decimal("0.05"), ge=0, le=10)
    raised_reward: Amount = Field(default=Decimal("1000.00"))


class PlanRules(_Strict):
    basis: Literal["collected", "booked"] = "collected"
    measure: Literal["revenue", "margin"] = "revenue"
    tier_mode: Literal["flat", "graduated", "retroactive"] = "flat"
    rate: Rate | None = Field(default=None, description="The flat rate (tier_mode flat)")
    tiers: tuple[Tier, ...] = ()
    quota: Amount | None = Field(
        default=None, description="Quota per period (a person's own quota overrides it)"
    )
    ramp: tuple[Share, ...] = Field(
        default=(), description="Quota share in the first months of service (probation ramp)"
    )
    product_rates: dict[str, Rate] = Field(
        default_factory=dict, description="Flat rate for a product line, instead of the tiers"
    )
    minimum_attainment: Fraction | None = Field(
        default=None, description="Nothing is earned below this attainment"
    )
    cap_per_deal: Amount | None = None
    cap_per_period: Amount | None = None
    kpi_gate: KpiGate | None = None
    manager_override: ManagerOverride | None = None
    clawback: tuple[ClawbackWindow, ...] = Field(
        default=(), description="Share reversed by days since close; none configured = all"
    )
    draw: Draw | None = None
    probation: ProbationTargets | None = None
    rounding: Literal["half_up", "half_even"] = "half_up"

    @model_validator(mode="after")
    def _consistent(self) -> PlanRules:
        if self.tier_mode == "flat":
            if self.rate is None:
                raise ValueError("a flat plan needs 'rate'")
            if self.tiers:
                raise ValueError("a flat plan has no 'tiers'")
        else:
            if not self.tiers:
                raise ValueError(f"a {self.tier_mode} plan needs 'tiers'")
            if self.tiers[0].from_attainment != 0:
                raise ValueError("the first tier must start at 0")
            starts = [t.from_attainment for t in self.tiers]
            if any(b <= a for a, b in itertools.pairwise(starts)):
                raise ValueError("tiers must start at strictly increasing attainment")
        windows = [w.within_days for w in self.clawback]
        if windows != sorted(set(windows)):
            raise ValueError("clawback windows must have increasing 'within_days'")
        return self

    @property
    def needs_quota(self) -> bool:
        return self.tier_mode != "flat" or self.minimum_attainment is not None

    def clawback_share(self, days_since_close: int) -> Decimal:
        if not self.clawback:
            return Decimal(1)
        for window in self.clawback:
            if days_since_close <= window.within_days:
                return window.share
        return Decimal(0)
