"""Pricing one person's period: pure, deterministic, no I/O.

The period is priced from scratch every time, by folding its credits (this person's share of
payments, refunds, bookings and cancellations, measured as revenue or margin) in a fixed
order: occurrence time, then id. After each credit the engine knows the exact cumulative
earnings ``E`` of the period (tiers, product rates, caps, minimum attainment, KPI gate); the
credit's line is ``round(E_after) - round(E_before)`` plus the clawback effect. So:

- the lines of a period always sum exactly to its rounded total (each line rounded once,
  no drift, no lost fen);
- a payment that arrives late but belongs earlier changes the lines after it; the caller
  compares with what it stored and records the difference as a re-pricing line when the
  rules moved a credit's unrounded earnings (``PricedLine.exact``), not when only the
  rounding of the running total moved;
- replaying the same credits gives the same lines (the caller's statement is idempotent).

Refunds and cancellations are negative credits. The share of commission reversed follows the
plan's clawback windows (days since the deal closed); what is not reversed is *kept* by the
person and absorbed first if the same deal's money comes in again, so a refund followed by
the same payment returns the total to where it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from zhanli_commission.core.plan import PlanRules
from zhanli_shared.money import round_money

ZERO = Decimal(0)
CreditKind = Literal["payment", "refund", "booking", "cancellation"]


class PricingError(ValueError):
    """The plan cannot price this period (e.g. a tiered plan without a quota)."""


@dataclass(frozen=True, slots=True)
class Credit:
    credit_id: str
    deal_id: str
    kind: CreditKind
    basis: Decimal
    """Signed contribution to attainment: this person's share, revenue or margin."""
    occurred_at: dt.datetime
    deal_closed_at: dt.datetime
    product_line: str | None = None

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return (self.occurred_at, self.credit_id)


@dataclass(frozen=True, slots=True)
class Slice:
    tier: str
    basis: Decimal
    rate: Decimal


@dataclass(frozen=True, slots=True)
class PricedLine:
    credit_id: str
    deal_id: str
    kind: CreditKind
    basis: Decimal
    amount: Decimal
    """What this credit changed the person's commission by (fen)."""
    own: Decimal
    """The credit's own earnings at its rate(s)."""
    trueup: Decimal
    """The rest: re-pricing of earlier credits (retroactive tiers, caps, thresholds)."""
    rule: str
    tier: str | None
    rate: Decimal
    slices: tuple[Slice, ...] = ()
    clawback_share: Decimal | None = None
    kept: Decimal = ZERO
    """Commission the person keeps on refunded money (outside the clawback window)."""
    notes: tuple[str, ...] = ()
    occurred_at: dt.datetime | None = None
    exact: Decimal | None = None
    """What the credit changed the period's earnings by before rounding (``amount`` is
    within a fen of it): the ledger re-prices a stored line only when the rules move this
    value, never for rounding alone."""


@dataclass(frozen=True, slots=True)
class PeriodPosition:
    lines: tuple[PricedLine, ...]
    total: Decimal
    basis_total: Decimal
    quota: Decimal | None
    attainment: Decimal | None
    tier: str | None
    kept: Decimal

    def by_credit(self) -> dict[str, PricedLine]:
        return {line.credit_id: line for line in self.lines}


@dataclass(slots=True)
class _Deal:
    tier_basis: Decimal = ZERO  # basis priced by the tiers (retroactive)
    exact: Decimal = ZERO  # exact earnings for graduated/flat and product rates
    product_exact: Decimal = ZERO
    kept: Decimal = ZERO
    capped: Decimal = ZERO  # the deal's contribution to the period sum


@dataclass(slots=True)
class _Schedule:
    bounds: list[Decimal]
    rates: list[Decimal]
    labels: list[str]
    gated: list[bool] = field(default_factory=list)

    def index_at(self, x: Decimal) -> int:
        i = 0
        for k, start in enumerate(self.bounds):
            if x >= start:
                i = k
            else:
                break
        return i

    def rate_at(self, x: Decimal) -> Decimal:
        return self.rates[self.index_at(x)]

    def slices(self, lo: Decimal, hi: Decimal) -> list[Slice]:
        """The tier slices of moving attainment from ``lo`` to ``hi`` (signed bases)."""
        sign = 1 if hi >= lo else -1
        a, b = (lo, hi) if sign == 1 else (hi, lo)
        out: list[Slice] = []
        # Below zero (net refunds) the first tier's rate applies.
        if a < 0:
            top = min(b, ZERO)
            out.append(Slice(self.labels[0], sign * (top - a), self.rates[0]))
            a = top
        n = len(self.bounds)
        for i in range(n):
            start = self.bounds[i]
            end = self.bounds[i + 1] if i + 1 < n else None
            lo_i = max(a, start)
            hi_i = b if end is None else min(b, end)
            if hi_i > lo_i:
                out.append(Slice(self.labels[i], sign * (hi_i - lo_i), self.rates[i]))
        return out if sign == 1 else out[::-1]


def _schedule(rules: PlanRules, quota: Decimal | None, kpi_score: Decimal | None) -> _Schedule:
    if rules.tier_mode == "flat":
        assert rules.rate is not None
        return _Schedule([ZERO], [rules.rate], ["flat"], [False])
    if quota is None or quota <= 0:
        raise PricingError("a tiered plan needs a positive quota for the period")
    gate_open = rules.kpi_gate is None or (
        kpi_score is not None and kpi_score >= rules.kpi_gate.threshold
    )
    rates: list[Decimal] = []
    gated: list[bool] = []
    for tier in rules.tiers:
        if tier.is_accelerator and not gate_open:
            # Accelerators pay only above the KPI gate; below it the last base rate applies.
            rates.append(rates[-1] if rates else ZERO)
            gated.append(True)
        else:
            rates.append(tier.rate)
            gated.append(False)
    return _Schedule(
        [t.from_attainment * quota for t in rules.tiers],
        rates,
        [t.label(i) for i, t in enumerate(rules.tiers)],
        gated,
    )


def _cap(value: Decimal, cap: Decimal | None) -> Decimal:
    return value if cap is None or value <= cap else cap


def price_period(
    rules: PlanRules,
    credits: Iterable[Credit],
    *,
    quota: Decimal | None = None,
    kpi_score: Decimal | None = None,
    rule_name: str = "plan",
) -> PeriodPosition:
    """Price every credit of one person's period; see the module docstring."""
    quota = quota if quota is not None else rules.quota
    if rules.needs_quota and (quota is None or quota <= 0):
        raise PricingError("this plan needs a positive quota for the period")
    sched = _schedule(rules, quota, kpi_score)
    mode = rules.tier_mode
    rounding = rules.rounding
    threshold = (
        rules.minimum_attainment * quota
        if rules.minimum_attainment is not None and quota is not None
        else None
    )
    deals: dict[str, _Deal] = {}
    ordered: Sequence[Credit] = sorted(credits, key=lambda c: c.order)
    attained = ZERO
    capped_sum = ZERO  # sum over deals of capped deal earnings
    prev_rate = sched.rate_at(ZERO)
    prev_exact = ZERO
    prev_rounded = ZERO
    kept_total = ZERO
    lines: list[PricedLine] = []
    per_deal_cap = rules.cap_per_deal

    def deal_value(d: _Deal, rate: Decimal) -> Decimal:
        if mode == "retroactive":
            return _cap(d.tier_basis * rate + d.product_exact, per_deal_cap)
        return _cap(d.exact + d.product_exact, per_deal_cap)

    for credit in ordered:
        deal = deals.setdefault(credit.deal_id, _Deal())
        b = credit.basis
        before = attained
        after = attained + b
        product_rate = rules.product_rates.get(credit.product_line) if credit.product_line else None
        notes: list[str] = []
        slices: tuple[Slice, ...]
        if product_rate is not None:
            contribution = b * product_rate
            deal.product_exact += contribution
            slices = (Slice(f"product:{credit.product_line}", b, product_rate),)
            rate = product_rate
            rule = f"{rule_name}/product_rate"
        elif mode == "retroactive":
            rate = sched.rate_at(after)
            contribution = b * rate
            deal.tier_basis += b
            slices = (Slice(sched.labels[sched.index_at(after)], b, rate),)
            rule = f"{rule_name}/retroactive"
        else:
            slices = tuple(sched.slices(before, after))
            contribution = sum((s.basis * s.rate for s in slices), ZERO)
            deal.exact += contribution
            rate = sched.rate_at(after) if mode == "graduated" else sched.rates[0]
            rule = f"{rule_name}/{mode}"
        attained = after
        new_rate = sched.rate_at(attained)

        if mode == "retroactive" and new_rate != prev_rate:
            # A new tier re-prices every deal of the period (the retroactive true-up).
            capped_sum = ZERO
            for d in deals.values():
                d.capped = deal_value(d, new_rate)
                capped_sum += d.capped
        else:
            value = deal_value(deal, new_rate)
            capped_sum += value - deal.capped
            deal.capped = value
        if per_deal_cap is not None and deal.capped == per_deal_cap and b > 0:
            notes.append("deal cap reached")
        prev_rate = new_rate

        exact = capped_sum
        if threshold is not None and attained < threshold and exact > 0:
            exact = ZERO
            notes.append("below minimum attainment")
        if rules.cap_per_period is not None and exact > rules.cap_per_period:
            exact = rules.cap_per_period
            notes.append("period cap reached")
        rounded = round_money(exact, mode=rounding)
        delta = rounded - prev_rounded
        trueup_exact = exact - prev_exact - contribution
        trueup = round_money(trueup_exact, mode=rounding)

        clawback_share: Decimal | None = None
        kept_change = ZERO
        if credit.kind in ("refund", "cancellation") and delta < 0:
            days = (credit.occurred_at - credit.deal_closed_at).days
            clawback_share = rules.clawback_share(max(days, 0))
            kept_change = round_money(-delta * (1 - clawback_share), mode=rounding)
            deal.kept += kept_change
            if kept_change:
                notes.append(f"clawback {clawback_share:%} of the commission")
        elif delta > 0 and deal.kept > 0:
            absorbed = min(deal.kept, delta)
            deal.kept -= absorbed
            kept_change = -absorbed
            notes.append("absorbs commission kept on an earlier refund")
        kept_total += kept_change
        amount = delta + kept_change
        own = amount - trueup
        if product_rate is None and sched.gated[sched.index_at(attained)]:
            notes.append("accelerator withheld: KPI score below the gate")
        lines.append(
            PricedLine(
                credit_id=credit.credit_id,
                deal_id=credit.deal_id,
                kind=credit.kind,
                basis=b,
                amount=amount,
                own=own,
                trueup=trueup,
                rule=rule,
                tier=sched.labels[sched.index_at(attained)] if mode != "flat" else None,
                rate=rate,
                slices=slices,
                clawback_share=clawback_share,
                kept=kept_change,
                notes=tuple(notes),
                occurred_at=credit.occurred_at,
                exact=exact - prev_exact + kept_change,
            )
        )
        prev_exact = exact
        prev_rounded = rounded

    total = prev_rounded + kept_total
    return PeriodPosition(
        lines=tuple(lines),
        total=total,
        basis_total=attained,
        quota=quota,
        attainment=(attained / quota) if quota else None,
        tier=sched.labels[sched.index_at(attained)] if mode != "flat" else None,
        kept=kept_total,
    )


def what_if(
    rules: PlanRules,
    credits: Sequence[Credit],
    extra: Credit,
    *,
    quota: Decimal | None = None,
    kpi_score: Decimal | None = None,
    rule_name: str = "plan",
) -> tuple[PeriodPosition, PeriodPosition, PricedLine]:
    """Price the period with and without one more credit: nothing is written."""
    before = price_period(rules, credits, quota=quota, kpi_score=kpi_score, rule_name=rule_name)
    after = price_period(
        rules, [*credits, extra], quota=quota, kpi_score=kpi_score, rule_name=rule_name
    )
    return before, after, after.by_credit()[extra.credit_id]
