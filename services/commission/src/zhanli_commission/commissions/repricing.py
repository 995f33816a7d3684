"""Real-time re-pricing: sales facts become credits, and the periods they touch are priced
again (the lines and totals are written by ``writer``).

One fact or thousands (the consumer's hot path), a KPI score, a plan correction or a whole
period's recalculation: the same code, with a fixed number of statements per call:

1. the deals, their splits, the credits already stored and the closed statements of the
   people involved are read in one query each; each fact credits everyone on the deal's
   split (largest-remainder shares, exact to the fen) in the period it happened, or the
   person's next open one when that is closed; the new credits are inserted in one go
   (a replayed fact credits nothing);
2. every touched (person, period) gets its period-total row (inserted if missing) and all
   of them are locked in one ordered ``SELECT ... FOR UPDATE``, so two consumers never
   price the same period at once and never deadlock;
3. the credits, plans, quotas and KPI scores of those people are read in bulk
   (``snapshot``), each period is priced once by the engine, compared with its stored lines
   (read after the lock) and the differences appended in one statement.

A fact whose deal has not arrived is parked until it does (``service.apply_deal``). Pricing
a period once for several of its facts gives each new credit its line at its final price
(no re-pricing line between two facts of the same batch); each fact's event carries its
own line, the running period total, and the last one any re-pricing of earlier lines.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import pricing, rewards, writer
from zhanli_commission.commissions.models import CommissionLine, Credit, ParkedFact, PeriodTotal
from zhanli_commission.commissions.snapshot import (
    LINE_COLUMNS,
    Pricer,
    chunks,
    load,
    load_people,
    self_overrides,
)
from zhanli_commission.core.engine import PricingError
from zhanli_commission.core.splits import split_amount
from zhanli_commission.sales.models import Deal, DealSplit
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import bulk_insert, one_of, table_of, utcnow
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import business_month, round_money

ZERO = Decimal("0.00")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Fact:
    deal_id: str
    kind: str  # payment, refund, cancellation, booking
    fact_id: str
    amount: Decimal  # signed: refunds and cancellations negative
    occurred_at: dt.datetime
    source_event_id: str
    event: dict[str, Any] | None = field(default=None, compare=False)
    """A bus fact whose deal is unknown: its event and source, kept while it is parked."""


@dataclass
class _Cause:
    credit_id: str
    source_event_id: str


Pair = tuple[str, str]  # (person, period)


@dataclass
class Repriced:
    """What ``reprice`` did."""

    lines: int = 0
    events: int = 0
    changed: int = 0
    """People whose statement got lines."""
    delta: Decimal = ZERO
    closed: int = 0
    """Closed statements left alone."""
    unknown: int = 0
    """People the directory does not know (yet): left alone."""
    failed: dict[str, str] = field(default_factory=dict)
    """person -> why their plan could not price them (``keep_going``)."""


async def apply_facts(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    facts: list[Fact],
) -> int:
    """Credit every fact and re-price the periods they touch; returns the lines appended."""
    if not facts:
        return 0
    deals = await _deals(session, sorted({f.deal_id for f in facts}))
    for fact in facts:
        if fact.deal_id not in deals:
            await _park(session, fact)
    known = [fact for fact in facts if fact.deal_id in deals]
    causes = await _credit(session, settings, deals, known)
    return (await reprice(session, publisher, settings, causes)).lines


async def _park(session: AsyncSession, fact: Fact) -> None:
    """A fact pushed onto the bus before its deal waits for it (``service.apply_deal``);
    it is neither lost nor counted twice."""
    key = f"{fact.kind}:{fact.fact_id}"
    if await session.get(ParkedFact, key) is None:
        session.add(
            ParkedFact(
                fact_key=key,
                deal_id=fact.deal_id,
                kind=fact.kind,
                fact_id=fact.fact_id,
                amount=fact.amount,
                occurred_at=fact.occurred_at,
                source_event_id=fact.source_event_id,
                parked_at=utcnow(),
                event=fact.event,
            )
        )
        await session.flush()
        log.info("commission.fact_parked", fact=key, deal_id=fact.deal_id)


async def _deals(session: AsyncSession, deal_ids: list[str]) -> dict[str, Any]:
    """deal id -> (row, shares); shares as ``pricing.deal_shares``."""
    conn = await session.connection()
    dialect = conn.dialect.name
    cols = (
        Deal.deal_id,
        Deal.salesperson_id,
        Deal.amount,
        Deal.margin,
        Deal.product_line,
        Deal.closed_at,
    )
    rows: dict[str, Any] = {}
    splits: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for chunk in chunks(deal_ids):
        for row in (
            await conn.execute(select(*cols).where(one_of(Deal.deal_id, chunk, dialect)))
        ).all():
            rows[row.deal_id] = row
        stmt = (
            select(DealSplit.deal_id, DealSplit.salesperson_id, DealSplit.share)
            .where(one_of(DealSplit.deal_id, chunk, dialect))
            .order_by(DealSplit.deal_id, DealSplit.position)
        )
        for deal_id, person_id, share in (await conn.execute(stmt)).all():
            splits[deal_id].append((person_id, share))
    return {
        deal_id: (row, splits.get(deal_id) or [(row.salesperson_id, Decimal(100))])
        for deal_id, row in rows.items()
    }


async def _credit(
    session: AsyncSession, settings: CommissionSettings, deals: dict[str, Any], facts: list[Fact]
) -> dict[Pair, list[_Cause]]:
    """Credit every fact to everyone on its deal (step 1 above); return, per touched
    (person, period), the facts' new credits in arrival order."""
    planned: list[tuple[Fact, str, str, Decimal, Decimal, Decimal]] = []
    for fact in facts:
        row, shares = deals[fact.deal_id]
        parts = split_amount(fact.amount, [s for _, s in shares])
        margin_parts: list[Decimal] | None = None
        if row.margin is not None and row.amount:
            margin_total = round_money(
                fact.amount * row.margin / row.amount, mode=settings.rounding
            )
            margin_parts = split_amount(margin_total, [s for _, s in shares])
        for i, ((person_id, share), part) in enumerate(zip(shares, parts, strict=True)):
            basis = margin_parts[i] if margin_parts is not None else part
            credit_id = f"{fact.kind}:{fact.fact_id}:{person_id}"
            planned.append((fact, credit_id, person_id, share, part, basis))
    conn = await session.connection()
    dialect = conn.dialect.name
    stored: set[str] = set()
    ids = [p[1] for p in planned]
    for chunk in chunks(ids):
        stmt = select(Credit.credit_id).where(one_of(Credit.credit_id, chunk, dialect))
        stored.update((await conn.execute(stmt)).scalars())
    persons = sorted({p[2] for p in planned})
    months = {id(f): business_month(f.occurred_at, settings.timezone) for f in facts}
    closed: set[Pair] = set()
    if persons:
        first = min(months.values())
        for chunk in chunks(persons):
            closed_stmt = select(PeriodTotal.salesperson_id, PeriodTotal.period).where(
                one_of(PeriodTotal.salesperson_id, chunk, dialect),
                PeriodTotal.period >= first,
                PeriodTotal.status != "open",
            )
            closed.update((p, m) for p, m in (await conn.execute(closed_stmt)).all())
    rows: list[dict[str, Any]] = []
    causes: dict[Pair, list[_Cause]] = defaultdict(list)
    for fact, credit_id, person_id, share, part, basis in planned:
        if credit_id in stored:  # replayed fact (or the same fact twice in the batch)
            continue
        stored.add(credit_id)
        period = months[id(fact)]
        while (person_id, period) in closed:  # ``pricing.open_period``
            period = pricing.next_period(period)
        row, _ = deals[fact.deal_id]
        rows.append(
            {
                "credit_id": credit_id,
                "salesperson_id": person_id,
                "period": period,
                "deal_id": fact.deal_id,
                "kind": fact.kind,
                "fact_id": fact.fact_id,
                "amount": part,
                "basis": basis,
                "share": share,
                "product_line": row.product_line,
                "occurred_at": fact.occurred_at,
                "deal_closed_at": row.closed_at,
            }
        )
        causes[(person_id, period)].append(_Cause(credit_id, fact.source_event_id))
    await bulk_insert(conn, table_of(Credit), rows)
    return causes


async def recompute(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person_id: str,
    period: str,
    *,
    cause_event_id: str,
    reason: str | None = None,
) -> int:
    """Price one person's period again (a KPI score, a plan correction); returns the lines
    appended (re-pricing lines explained by ``reason``)."""
    done = await reprice(
        session,
        publisher,
        settings,
        {(person_id, period): []},
        cause_event_id=cause_event_id,
        reason=reason,
    )
    return done.lines


async def reprice(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    causes: dict[Pair, list[_Cause]],
    *,
    cause_event_id: str | None = None,
    reason: str | None = None,
    keep_going: bool = False,
) -> Repriced:
    """Price every (person, period) again and append the differences; ``causes`` names,
    per pair, the new credits and their events in arrival order (none when something else
    changed: ``cause_event_id`` and ``reason`` then explain the lines). A closed statement
    and a person the directory does not know are left alone. A plan that cannot price a
    person (``PricingError``) fails the whole call, or with ``keep_going`` is reported and
    the others go on."""
    done = Repriced()
    if not causes:
        return done
    conn = await session.connection()
    by_period: dict[str, list[str]] = defaultdict(list)
    # Credits exist only for people the directory knows; one it does not know (yet) is
    # left alone, as are the others' managers, read here for the override check.
    people = await load_people(session, sorted({pid for pid, _ in causes}))
    known = [pair for pair in sorted(causes) if pair[0] in people]
    done.unknown = len(causes) - len(known)
    if not known:
        return done
    for pid, period in known:
        by_period[period].append(pid)
    totals = await writer.lock_totals(session, settings, known)
    # After the lock: credits and lines as the last committed writer left them.
    snaps = {
        period: await load(session, period, pids, people) for period, pids in by_period.items()
    }
    stored: dict[Pair, list[Any]] = defaultdict(list)
    for period, pids in by_period.items():
        for chunk in chunks(pids):
            stmt_l = select(*LINE_COLUMNS).where(
                CommissionLine.period == period,
                one_of(CommissionLine.salesperson_id, chunk, conn.dialect.name),
            )
            for row in (await conn.execute(stmt_l)).all():
                stored[(row.salesperson_id, period)].append(row)
    now = utcnow()
    values: list[dict[str, Any]] = []
    updates: list[writer.LockedTotal] = []
    events: list[CommissionCalculated] = []
    extra: list[tuple[Any, str, pricing.PricingInputs, bool, str]] = []
    pricers = {p: Pricer(snaps[p], settings, p) for p in by_period}
    for pair in known:
        pid, period = pair
        total_row = totals[pair]
        if total_row.status != "open":  # a closed statement never changes
            done.closed += 1
            continue
        pricer = pricers[period]
        person = pricer.snap.people[pid]
        inputs = pricer.inputs(person, pricer.snap.credits.get(pid, []))
        try:
            position = pricing.price(inputs)
        except PricingError as exc:
            if not keep_going:
                raise
            done.failed[pid] = str(exc)
            continue
        pair_causes = causes[pair]
        cause_ids = frozenset(c.credit_id for c in pair_causes)
        last_event_id = pair_causes[-1].source_event_id if pair_causes else cause_event_id
        assert last_event_id is not None, "a re-pricing without new credits needs its cause"
        diff = pricing.diff_lines(
            pid,
            period,
            inputs,
            position,
            stored.get(pair, []),
            cause_event_id=last_event_id,
            cause_credit_ids=cause_ids,
            currency=settings.currency,
            now=now,
            reason=reason,
        )
        before = total_row.total
        pricing.apply_total(total_row, inputs, position, diff, now=now)
        updates.append(total_row)
        if diff.lines:
            source = {c.credit_id: c.source_event_id for c in pair_causes}
            for line in diff.lines:  # each line names the event of its own fact
                line["source_event_id"] = source.get(line["credit_id"], last_event_id)
            values += diff.lines
            done.changed += 1
            done.delta += diff.delta
            events += _events(
                pid,
                period,
                inputs,
                position,
                diff,
                pair_causes,
                before,
                total_row.total,
                now,
                settings,
            )
        if inputs.plan.rules.probation is not None or (
            diff.lines and self_overrides(pricer, person)
        ):
            extra.append((person, period, inputs, bool(diff.lines), last_event_id))
    await writer.write_priced(session, values, updates)
    await publisher.publish_many(session, events)
    for person, period, inputs, changed, cause in extra:  # probation rewards, manager overrides
        if inputs.plan.rules.probation is not None:
            await rewards.apply_probation(
                session,
                publisher,
                settings,
                person,
                period,
                cause_event_id=cause,
                plan=inputs.plan,
            )
        if changed:
            await rewards.apply_manager_override(
                session, publisher, settings, person, period, cause_event_id=cause
            )
    done.lines = len(values)
    done.events = len(events)
    return done


def _events(
    person_id: str,
    period: str,
    inputs: pricing.PricingInputs,
    position: Any,
    diff: pricing.LineDiff,
    causes: list[_Cause],
    before: Decimal,
    after: Decimal,
    now: dt.datetime,
    settings: CommissionSettings,
) -> list[CommissionCalculated]:
    """One event per fact that has a line, in arrival order, with the running total; lines
    of no fact of this batch (re-pricing of earlier credits) go with the last event."""
    own: dict[str, dict[str, Any]] = {}
    rest: list[dict[str, Any]] = []
    cause_ids = {c.credit_id for c in causes}
    for line in diff.lines:
        if line["credit_id"] in cause_ids and line["credit_id"] not in own:
            own[line["credit_id"]] = line
        else:
            rest.append(line)
    ordered = [c for c in causes if c.credit_id in own]
    out: list[CommissionCalculated] = []
    running = before
    for i, cause in enumerate(ordered):
        lines = [own[cause.credit_id]]
        if i == len(ordered) - 1:
            lines += rest
        part = pricing.LineDiff(lines, diff.stored_count, diff.other_total)
        running = after if i == len(ordered) - 1 else running + part.delta
        event = pricing.calculated_event(
            person_id,
            period,
            inputs,
            position,
            part,
            running,
            currency=settings.currency,
            now=now,
            cause_credit_ids=frozenset({cause.credit_id}),
        )
        if event is not None:
            out.append(event)
    if not ordered and rest:  # only re-pricing (cannot happen for new facts; kept safe)
        event = pricing.calculated_event(
            person_id,
            period,
            inputs,
            position,
            diff,
            after,
            currency=settings.currency,
            now=now,
        )
        if event is not None:
            out.append(event)
    return out
