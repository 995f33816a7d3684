"""The pricing adapter between the ledger and the pure engine: what a period's pricing
inputs are, how a priced period compares with its stored lines, what the period total and
the event say.

A person's period is priced from scratch by the engine and compared with the lines already
stored: each difference is a new line (``earning`` for a new credit, ``clawback`` for a
refund or cancellation, ``repricing`` when a later fact changed an earlier line) and one
``commission.calculated`` event carries the delta and the new period total. ``repricing``
writes it: credits, lines, totals and events, for one fact or thousands.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions.models import PeriodTotal
from zhanli_commission.core import engine
from zhanli_commission.plans import service as plans
from zhanli_shared.directory import Person
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.money import FEN, round_money

log = structlog.get_logger(__name__)
ENGINE_KINDS = ("earning", "repricing", "clawback")
BASIS_KINDS = {
    "collected": ("payment", "refund"),
    "booked": ("booking", "cancellation", "refund"),
}
ZERO = Decimal("0.00")
ROUNDING_TOLERANCE = 2 * FEN
"""How far a stored credit's lines may be from its unrounded earnings before it is
re-priced: rounding the running total moves a line by less than a fen, and carrying the
period's rounding by at most about one more."""


def next_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


async def open_period(session: AsyncSession, person_id: str, period: str) -> str:
    """``period`` if the person's statement for it is open, else the next open one."""
    stmt = select(PeriodTotal.period, PeriodTotal.status).where(
        PeriodTotal.salesperson_id == person_id, PeriodTotal.period >= period
    )
    closed = {p for p, status in (await session.execute(stmt)).all() if status != "open"}
    while period in closed:
        period = next_period(period)
    return period


@dataclass(frozen=True)
class PricingInputs:
    person: Person
    plan: plans.ResolvedPlan
    credits: list[engine.Credit]
    quota: Decimal | None
    kpi_score: Decimal | None


def price(inputs: PricingInputs) -> engine.PeriodPosition:
    return engine.price_period(
        inputs.plan.rules,
        inputs.credits,
        quota=inputs.quota,
        kpi_score=inputs.kpi_score,
        rule_name=inputs.plan.rule_name,
    )


def explain(line: engine.PricedLine) -> dict[str, Any]:
    return {
        "slices": [
            {"tier": s.tier, "basis": str(s.basis), "rate": str(s.rate)} for s in line.slices
        ],
        "own": str(line.own),
        "trueup": str(line.trueup),
        "clawback_share": None if line.clawback_share is None else str(line.clawback_share),
        "kept": str(line.kept),
        "notes": list(line.notes),
    }


class StoredLine(Protocol):
    """What diffing needs of a stored line (an ORM row or a lighter row of those columns)."""

    credit_id: str | None
    kind: str
    amount: Decimal
    deal_id: str


@dataclass
class LineDiff:
    """What a new pricing changes: the values of the lines to append, and the totals."""

    lines: list[dict[str, Any]]
    stored_count: int
    other_total: Decimal

    @property
    def delta(self) -> Decimal:
        return sum((v["amount"] for v in self.lines), ZERO)


def diff_lines(
    person_id: str,
    period: str,
    inputs: PricingInputs,
    position: engine.PeriodPosition,
    stored_lines: Iterable[StoredLine],
    *,
    cause_event_id: str,
    currency: str,
    now: dt.datetime,
    cause_credit_ids: frozenset[str] = frozenset(),
    reason: str | None = None,
) -> LineDiff:
    """Pure: compare a priced period with its stored lines; each difference is a new line
    (``earning``/``clawback`` for a credit never priced before, ``repricing`` otherwise).

    A stored credit is re-priced only when the rules moved what it earns: its stored
    amount is no longer within ``ROUNDING_TOLERANCE`` of the engine's unrounded figure
    (``exact``). Where
    only rounding moved (a late fact in between, facts in another order), the stored line
    stands, and the lines written now carry the period's rounding so that the lines
    always sum exactly to the period total."""
    stored: dict[str, Decimal] = defaultdict(lambda: ZERO)
    deal_of: dict[str, str] = {}
    other_total = ZERO
    count = 0
    for line in stored_lines:
        count += 1
        if line.kind in ENGINE_KINDS and line.credit_id is not None:
            stored[line.credit_id] += line.amount
            deal_of.setdefault(line.credit_id, line.deal_id)
        else:
            other_total += line.amount  # draws, adjustments, bonuses: not the engine's
    priced = position.by_credit()
    changes: dict[str, Decimal] = {}  # credit id -> the new line's amount, engine order
    for credit_id, priced_line in priced.items():
        had = credit_id in stored
        if had:
            now_stored = stored[credit_id]
            if priced_line.amount == now_stored or _rounding_only(now_stored, priced_line):
                continue  # unchanged, or changed by rounding alone
            changes[credit_id] = priced_line.amount - now_stored
        elif priced_line.amount != 0 or credit_id in cause_credit_ids:
            changes[credit_id] = priced_line.amount
    residue = position.total - sum(
        (stored.get(c, ZERO) + changes.get(c, ZERO) for c in priced), ZERO
    )
    carried = _carry(residue, changes, stored, priced) if residue else {}
    new_lines: list[dict[str, Any]] = []
    for credit_id, amount in changes.items():
        priced_line = priced[credit_id]
        if credit_id in stored:
            kind = "repricing"
        elif priced_line.kind in ("refund", "cancellation"):
            kind = "clawback"
        else:
            kind = "earning"
        new_lines.append(
            _line(
                person_id,
                period,
                priced_line,
                amount,
                kind,
                inputs,
                cause_event_id,
                now,
                reason,
                currency,
                rounding=carried.get(credit_id, ZERO),
            )
        )
    for credit_id, amount in stored.items():  # a credit the plan no longer prices
        if credit_id not in priced and amount != 0:
            new_lines.append(
                {
                    "commission_id": str(uuid.uuid4()),
                    "salesperson_id": person_id,
                    "period": period,
                    "deal_id": deal_of[credit_id],
                    "payment_id": None,
                    "credit_id": credit_id,
                    "kind": "repricing",
                    "basis_amount": ZERO,
                    "rate": Decimal(0),
                    "amount": -amount,
                    "own": None,
                    "trueup": None,
                    "tier": None,
                    "currency": currency,
                    "rule": inputs.plan.rule_name,
                    "plan_id": inputs.plan.plan_id,
                    "plan_version": inputs.plan.version,
                    "explanation": {"notes": [reason or "no longer priced by the plan"]},
                    "source_event_id": cause_event_id,
                    "occurred_at": now,
                    "calculated_at": now,
                }
            )
    return LineDiff(new_lines, count, other_total)


def _rounding_only(stored: Decimal, priced: engine.PricedLine) -> bool:
    """A stored credit the rules did not move: within ``ROUNDING_TOLERANCE`` of its exact
    figure."""
    return priced.exact is not None and abs(stored - priced.exact) < ROUNDING_TOLERANCE


def _carry(
    residue: Decimal,
    changes: dict[str, Decimal],
    stored: dict[str, Decimal],
    priced: dict[str, engine.PricedLine],
) -> dict[str, Decimal]:
    """Spread the period's rounding ``residue`` over the lines written now, a fen at a
    time, each fen to the line it leaves closest to its exact figure (new credits first);
    ``changes`` is updated. Without a line to carry it, the credit that is closest gets a
    re-pricing line of its own (the lines must sum to the total)."""
    step = FEN if residue > 0 else -FEN
    candidates = [c for c in changes if c not in stored] or list(changes)
    if not candidates:
        candidates = list(priced)
    carried: dict[str, Decimal] = defaultdict(lambda: ZERO)

    def off(credit_id: str) -> Decimal:
        line = priced[credit_id]
        exact = line.exact if line.exact is not None else line.amount
        return abs(stored.get(credit_id, ZERO) + changes.get(credit_id, ZERO) + step - exact)

    for _ in range(int(abs(residue) / FEN)):
        best = min(candidates, key=off)
        changes[best] = changes.get(best, ZERO) + step
        carried[best] += step
    return carried


class PricedTotal(Protocol):
    """The fields of a period position that pricing sets (``writer.LockedTotal``)."""

    total: Decimal
    basis_total: Decimal
    lines: int
    plan_id: str | None
    plan_version: int | None
    quota: Decimal | None
    attainment: Decimal | None
    tier: str | None
    kept: Decimal
    updated_at: dt.datetime | None


def apply_total(
    total_row: PricedTotal,
    inputs: PricingInputs,
    position: engine.PeriodPosition,
    diff: LineDiff,
    *,
    now: dt.datetime,
) -> None:
    """Pure: the person's period position after the diff."""
    total_row.total = position.total + diff.other_total
    total_row.basis_total = round_money(position.basis_total)
    total_row.lines = diff.stored_count + len(diff.lines)
    total_row.plan_id = inputs.plan.plan_id
    total_row.plan_version = inputs.plan.version
    total_row.quota = inputs.quota
    total_row.attainment = (
        position.attainment.quantize(Decimal("0.000001"))
        if position.attainment is not None
        else None
    )
    total_row.tier = position.tier
    total_row.kept = position.kept
    total_row.updated_at = now


def calculated_event(
    person_id: str,
    period: str,
    inputs: PricingInputs,
    position: engine.PeriodPosition,
    diff: LineDiff,
    period_total: Decimal,
    *,
    currency: str,
    now: dt.datetime,
    cause_credit_ids: frozenset[str] = frozenset(),
) -> CommissionCalculated | None:
    """One ``commission.calculated`` for a diff that appended lines (None otherwise)."""
    if not diff.lines:
        return None
    main = next((v for v in diff.lines if v["credit_id"] in cause_credit_ids), diff.lines[0])
    trueup = sum((v["amount"] for v in diff.lines if v is not main), ZERO) + (
        main["trueup"] or ZERO
    )
    return CommissionCalculated(
        commission_id=main["commission_id"],
        salesperson_id=person_id,
        deal_id=main["deal_id"],
        payment_id=main["payment_id"],
        period=period,
        basis_amount=main["basis_amount"],
        rate=main["rate"],
        delta=diff.delta,
        period_total=period_total,
        currency=currency,
        rule=main["rule"],
        calculated_at=now,
        kind=main["kind"],
        plan_id=inputs.plan.plan_id,
        plan_version=inputs.plan.version,
        tier=position.tier,
        trueup=trueup.quantize(FEN),
    )


def _line(
    person_id: str,
    period: str,
    priced: engine.PricedLine,
    amount: Decimal,
    kind: str,
    inputs: PricingInputs,
    cause_event_id: str,
    now: dt.datetime,
    reason: str | None,
    currency: str,
    *,
    rounding: Decimal = ZERO,
) -> dict[str, Any]:
    explanation = explain(priced)
    if kind == "repricing":
        explanation["notes"] = [*explanation["notes"], reason or "re-priced by a later fact"]
    if rounding:
        explanation["rounding"] = str(rounding)
        explanation["notes"] = [
            *explanation["notes"],
            f"carries {rounding} of the period's rounding (lines sum to the period total)",
        ]
    fact_kind, fact_id, _ = priced.credit_id.split(":", 2)
    return {
        "commission_id": str(uuid.uuid4()),
        "salesperson_id": person_id,
        "period": period,
        "deal_id": priced.deal_id,
        "payment_id": fact_id if fact_kind == "payment" else None,
        "credit_id": priced.credit_id,
        "kind": kind,
        "basis_amount": round_money(priced.basis),
        "rate": priced.rate,
        "amount": amount,
        "own": priced.own + rounding if kind != "repricing" else None,
        "trueup": priced.trueup if kind != "repricing" else None,
        "tier": priced.tier,
        "plan_id": inputs.plan.plan_id,
        "plan_version": inputs.plan.version,
        "explanation": explanation,
        "currency": currency,
        "rule": priced.rule,
        "source_event_id": cause_event_id,
        "occurred_at": priced.occurred_at or now,
        "calculated_at": now,
    }
