"""The commission ledger: sales facts become credits; a period is re-priced on every change.

A fact (booking, payment, refund, cancellation) credits every person on the deal's split
(largest-remainder shares, exact to the fen) in the period the fact happened, or in the
person's first open period when that one is closed (a closed statement never changes; the
adjustment shows where it is booked). Then the person's period is priced from scratch by
the engine and compared with the lines already stored: each difference is appended as a
new line (``earning`` for a new credit, ``clawback`` for a refund or cancellation,
``repricing`` when a later fact changed an earlier line) and one ``commission.calculated``
event carries the delta and the new period total. Replaying a fact changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions.models import CommissionLine, Credit, PeriodTotal
from zhanli_commission.core import engine
from zhanli_commission.core.splits import split_amount
from zhanli_commission.plans import service as plans
from zhanli_commission.plans.models import KpiScore
from zhanli_commission.sales.models import Deal, DealSplit
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import FEN, business_month, round_money

ENGINE_KINDS = ("earning", "repricing", "clawback")
BASIS_KINDS = {
    "collected": ("payment", "refund"),
    "booked": ("booking", "cancellation", "refund"),
}
ZERO = Decimal("0.00")


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


async def deal_shares(session: AsyncSession, deal: Deal) -> list[tuple[str, Decimal]]:
    stmt = select(DealSplit).where(DealSplit.deal_id == deal.deal_id).order_by(DealSplit.position)
    rows = list((await session.execute(stmt)).scalars())
    if not rows:
        return [(deal.salesperson_id, Decimal(100))]
    return [(r.salesperson_id, r.share) for r in rows]


async def credit_fact(
    session: AsyncSession,
    settings: CommissionSettings,
    deal: Deal,
    *,
    kind: str,
    fact_id: str,
    amount: Decimal,
    occurred_at: dt.datetime,
) -> list[tuple[str, str]]:
    """Credit everyone on the deal's split; returns the (person, period) pairs touched.

    ``amount`` is signed (refunds and cancellations negative). A credit already stored for
    this fact and person is left alone (replay)."""
    shares = await deal_shares(session, deal)
    parts = split_amount(amount, [s for _, s in shares])
    margin_parts: list[Decimal] | None = None
    if deal.margin is not None and deal.amount:
        margin_total = round_money(amount * deal.margin / deal.amount, mode=settings.rounding)
        margin_parts = split_amount(margin_total, [s for _, s in shares])
    touched: list[tuple[str, str]] = []
    for i, ((person_id, share), part) in enumerate(zip(shares, parts, strict=True)):
        credit_id = f"{kind}:{fact_id}:{person_id}"
        if await session.get(Credit, credit_id) is not None:
            continue
        period = await open_period(
            session, person_id, business_month(occurred_at, settings.timezone)
        )
        session.add(
            Credit(
                credit_id=credit_id,
                salesperson_id=person_id,
                period=period,
                deal_id=deal.deal_id,
                kind=kind,
                fact_id=fact_id,
                amount=part,
                basis=margin_parts[i] if margin_parts is not None else part,
                share=share,
                product_line=deal.product_line,
                occurred_at=occurred_at,
                deal_closed_at=deal.closed_at,
            )
        )
        touched.append((person_id, period))
    await session.flush()
    return touched


@dataclass(frozen=True)
class PricingInputs:
    person: Person
    plan: plans.ResolvedPlan
    credits: list[engine.Credit]
    quota: Decimal | None
    kpi_score: Decimal | None


async def pricing_inputs(
    session: AsyncSession,
    settings: CommissionSettings,
    person: Person,
    period: str,
    *,
    plan: plans.ResolvedPlan | None = None,
) -> PricingInputs:
    plan = plan or await plans.resolve_plan(session, person, period, settings)
    rules = plan.rules
    stmt = select(Credit).where(
        Credit.salesperson_id == person.employee_id,
        Credit.period == period,
        Credit.kind.in_(BASIS_KINDS[rules.basis]),
    )
    use_margin = rules.measure == "margin"
    credits = [
        engine.Credit(
            credit_id=c.credit_id,
            deal_id=c.deal_id,
            kind=c.kind,  # type: ignore[arg-type]
            basis=c.basis if use_margin else c.amount,
            occurred_at=c.occurred_at,
            deal_closed_at=c.deal_closed_at,
            product_line=c.product_line,
        )
        for c in (await session.execute(stmt)).scalars()
    ]
    quota, _ = await plans.quota_for(session, person, period, rules)
    kpi = None
    if rules.kpi_gate is not None:
        row = await session.get(KpiScore, (person.employee_id, period))
        kpi = row.score if row else None
    return PricingInputs(person, plan, credits, quota, kpi)


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


async def recompute(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person_id: str,
    period: str,
    *,
    cause_event_id: str,
    cause_credit_ids: frozenset[str] = frozenset(),
    plan: plans.ResolvedPlan | None = None,
    reason: str | None = None,
) -> list[CommissionLine]:
    """Price the person's period and append the differences; returns the new lines."""
    person = await people.get(session, person_id)
    if person is None:  # credits exist only for known people; the directory may lag
        return []
    inputs = await pricing_inputs(session, settings, person, period, plan=plan)
    position = price(inputs)

    stmt = select(CommissionLine).where(
        CommissionLine.salesperson_id == person_id, CommissionLine.period == period
    )
    stored_lines = list((await session.execute(stmt)).scalars())
    stored: dict[str, Decimal] = defaultdict(lambda: ZERO)
    other_total = ZERO
    for line in stored_lines:
        if line.kind in ENGINE_KINDS and line.credit_id is not None:
            stored[line.credit_id] += line.amount
        else:
            other_total += line.amount  # draws, adjustments, bonuses: not the engine's
    now = utcnow()
    new_lines: list[CommissionLine] = []
    priced = position.by_credit()
    for credit_id, priced_line in priced.items():
        had = credit_id in stored
        diff = priced_line.amount - stored.get(credit_id, ZERO)
        if had and diff == 0:
            continue
        if not had and diff == 0 and credit_id not in cause_credit_ids:
            continue
        if had:
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
                diff,
                kind,
                inputs,
                cause_event_id,
                now,
                reason,
                settings.currency,
            )
        )
    for credit_id, amount in stored.items():  # a credit the plan no longer prices
        if credit_id not in priced and amount != 0:
            new_lines.append(
                CommissionLine(
                    commission_id=str(uuid.uuid4()),
                    salesperson_id=person_id,
                    period=period,
                    deal_id=next(
                        line.deal_id for line in stored_lines if line.credit_id == credit_id
                    ),
                    payment_id=None,
                    credit_id=credit_id,
                    kind="repricing",
                    basis_amount=ZERO,
                    rate=Decimal(0),
                    amount=-amount,
                    currency=settings.currency,
                    rule=inputs.plan.rule_name,
                    plan_id=inputs.plan.plan_id,
                    plan_version=inputs.plan.version,
                    explanation={"notes": [reason or "no longer priced by the plan"]},
                    source_event_id=cause_event_id,
                    occurred_at=now,
                    calculated_at=now,
                )
            )
    session.add_all(new_lines)

    total_row = await session.get(PeriodTotal, (person_id, period), with_for_update=True)
    if total_row is None:
        total_row = PeriodTotal(
            salesperson_id=person_id,
            period=period,
            total=ZERO,
            basis_total=ZERO,
            lines=0,
            currency=settings.currency,
            updated_at=now,
            kept=ZERO,
            status="open",
        )
        session.add(total_row)
    delta = sum((line.amount for line in new_lines), ZERO)
    total_row.total = position.total + other_total
    total_row.basis_total = round_money(position.basis_total)
    total_row.lines = len(stored_lines) + len(new_lines)
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
    await session.flush()
    if new_lines:
        main = next((ln for ln in new_lines if ln.credit_id in cause_credit_ids), new_lines[0])
        trueup = sum((ln.amount for ln in new_lines if ln is not main), ZERO) + (
            main.trueup or ZERO
        )
        await publisher.publish(
            session,
            CommissionCalculated(
                commission_id=main.commission_id,
                salesperson_id=person_id,
                deal_id=main.deal_id,
                payment_id=main.payment_id,
                period=period,
                basis_amount=main.basis_amount,
                rate=main.rate,
                delta=delta,
                period_total=total_row.total,
                currency=settings.currency,
                rule=main.rule,
                calculated_at=now,
                kind=main.kind,
                plan_id=inputs.plan.plan_id,
                plan_version=inputs.plan.version,
                tier=position.tier,
                trueup=trueup.quantize(FEN),
            ),
        )
    return new_lines


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
) -> CommissionLine:
    explanation = explain(priced)
    if kind == "repricing":
        explanation["notes"] = [*explanation["notes"], reason or "re-priced by a later fact"]
    fact_kind, fact_id, _ = priced.credit_id.split(":", 2)
    return CommissionLine(
        commission_id=str(uuid.uuid4()),
        salesperson_id=person_id,
        period=period,
        deal_id=priced.deal_id,
        payment_id=fact_id if fact_kind == "payment" else None,
        credit_id=priced.credit_id,
        kind=kind,
        basis_amount=round_money(priced.basis),
        rate=priced.rate,
        amount=amount,
        own=priced.own if kind != "repricing" else None,
        trueup=priced.trueup if kind != "repricing" else None,
        tier=priced.tier,
        plan_id=inputs.plan.plan_id,
        plan_version=inputs.plan.version,
        explanation=explanation,
        currency=currency,
        rule=priced.rule,
        source_event_id=cause_event_id,
        occurred_at=priced.occurred_at or now,
        calculated_at=now,
    )
