"""Recalculating a whole period: every person priced again from their credits, in bulk.

The same result as ``ledger.recompute`` for each person with credits in the period (the
same pure diff, the same lines, totals and ``commission.calculated`` events), without its
per-person queries: the credits of the period are read in one query, the people, plan
assignments and versions, quotas, KPI scores and period totals in one query each; plans
are resolved in memory (cached per plan); each person is priced by ``engine.price_period``;
the differences are written in batches, one transaction per batch:

- the batch's period totals are locked first (``FOR UPDATE`` on PostgreSQL) and its stored
  lines read after the lock, so a line appended meanwhile is seen;
- a person whose credits changed since the bulk read (a fact arrived meanwhile) is read
  and priced again inside the batch;
- a closed statement never changes: those people are skipped and counted.

A second run right after the first appends nothing (the period is already priced).

``python -m zhanli_commission recalc --period YYYY-MM`` runs it from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_commission.commissions import extras, ledger
from zhanli_commission.commissions.models import CommissionLine, Credit, PeriodTotal
from zhanli_commission.core import engine
from zhanli_commission.core.plan import PlanRules
from zhanli_commission.core.quotas import effective_quota
from zhanli_commission.db import people_table
from zhanli_commission.plans import service as plans
from zhanli_commission.plans.models import KpiScore, PlanAssignment, PlanVersion, Quota
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import bulk_insert, one_of, utcnow
from zhanli_shared.directory import Person
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.outbox import Publisher

BATCH_SIZE = 100
IN_CHUNK = 1000  # ids per IN (...) list
Progress = Callable[["RecalcReport"], None]
_Priced = tuple[ledger.PricingInputs, engine.PeriodPosition] | str  # or why it failed

_CREDIT_COLUMNS = (
    Credit.salesperson_id,
    Credit.credit_id,
    Credit.deal_id,
    Credit.kind,
    Credit.amount,
    Credit.basis,
    Credit.occurred_at,
    Credit.deal_closed_at,
    Credit.product_line,
)
_LINE_COLUMNS = (
    CommissionLine.salesperson_id,
    CommissionLine.credit_id,
    CommissionLine.kind,
    CommissionLine.amount,
    CommissionLine.deal_id,
)


@dataclass
class RecalcReport:
    period: str
    people: int = 0
    """People with credits in the period."""
    done: int = 0
    changed_people: int = 0
    lines_appended: int = 0
    delta: Decimal = Decimal("0.00")
    events: int = 0
    skipped_closed: int = 0
    skipped_unknown: int = 0
    repriced_in_batch: int = 0
    """People whose credits changed between the bulk read and their batch."""
    failed: dict[str, str] = field(default_factory=dict)
    credits: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"period {self.period}: {self.done}/{self.people} people, {self.credits} credits; "
            f"{self.lines_appended} lines appended for {self.changed_people} people "
            f"(delta {self.delta}), {self.events} events; skipped {self.skipped_closed} "
            f"closed, {self.skipped_unknown} unknown; {len(self.failed)} failed"
        )


@dataclass
class _Snapshot:
    """Everything of the period read in bulk before writing."""

    credits: dict[str, list[Any]]
    people: dict[str, Person]
    assignments: dict[tuple[str, str], str]
    """(target type, target id) -> plan id, for the assignments covering the period."""
    versions: dict[str, tuple[int, dict[str, Any]]]
    """plan id -> (version, rules) of the version covering the period."""
    quotas: dict[str, Decimal]
    kpi: dict[str, Decimal]


def _chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _load(
    session: AsyncSession, period: str, persons: Sequence[str] | None = None
) -> _Snapshot:
    """The period's snapshot: of everyone with credits, or of ``persons`` only."""
    credits: dict[str, list[Any]] = defaultdict(list)
    conn = await session.connection()
    dialect = conn.dialect.name  # Core rows: no ORM loading for 100,000s of credits
    stmt = select(*_CREDIT_COLUMNS).where(Credit.period == period)
    for chunk in [None] if persons is None else _chunks(persons):
        chunk_stmt = (
            stmt if chunk is None else stmt.where(one_of(Credit.salesperson_id, chunk, dialect))
        )
        for row in (await conn.execute(chunk_stmt)).all():
            credits[row.salesperson_id].append(row)
    ids = sorted(credits) if persons is None else sorted(persons)
    people: dict[str, Person] = {}
    for chunk in _chunks(ids):
        rows = (
            await session.execute(
                select(people_table).where(one_of(people_table.c.employee_id, chunk, dialect))
            )
        ).mappings()
        for row in rows:
            people[row["employee_id"]] = Person(**{k: row[k] for k in Person.__dataclass_fields__})
    managers = sorted({p.manager_id for p in people.values() if p.manager_id} - people.keys())
    for chunk in _chunks(managers):  # whether a manager earns overrides is decided by plan
        rows = (
            await session.execute(
                select(people_table).where(one_of(people_table.c.employee_id, chunk, dialect))
            )
        ).mappings()
        for row in rows:
            people[row["employee_id"]] = Person(**{k: row[k] for k in Person.__dataclass_fields__})
    assignments: dict[tuple[str, str], str] = {}
    stmt_a = select(PlanAssignment).where(PlanAssignment.effective_from <= period)
    for a in (await session.execute(stmt_a)).scalars():
        if plans._covers(a, period):
            assignments[(a.target_type, a.target_id)] = a.plan_id
    versions: dict[str, tuple[int, dict[str, Any]]] = {}
    plan_ids = sorted(set(assignments.values()))
    if plan_ids:
        stmt_v = select(PlanVersion).where(
            PlanVersion.plan_id.in_(plan_ids), PlanVersion.effective_from <= period
        )
        for v in (await session.execute(stmt_v)).scalars():
            if plans._covers(v, period):
                versions.setdefault(v.plan_id, (v.version, v.rules))
    quotas: dict[str, Decimal] = {}
    kpi: dict[str, Decimal] = {}
    stmt_q = select(Quota.salesperson_id, Quota.amount).where(Quota.period == period)
    stmt_k = select(KpiScore.employee_id, KpiScore.score).where(KpiScore.period == period)
    for chunk in [None] if persons is None else _chunks(ids):
        q = stmt_q if chunk is None else stmt_q.where(one_of(Quota.salesperson_id, chunk, dialect))
        k = stmt_k if chunk is None else stmt_k.where(one_of(KpiScore.employee_id, chunk, dialect))
        quotas.update((p, a) for p, a in (await session.execute(q)).all())
        kpi.update((p, v) for p, v in (await session.execute(k)).all())
    return _Snapshot(credits, people, assignments, versions, quotas, kpi)


class _Pricer:
    """``ledger.pricing_inputs`` for many people from a snapshot, plans cached per plan."""

    def __init__(self, snap: _Snapshot, settings: CommissionSettings, period: str) -> None:
        self.snap = snap
        self.settings = settings
        self.period = period
        self._plans: dict[str | None, plans.ResolvedPlan] = {}

    def plan(self, person: Person) -> plans.ResolvedPlan:
        """``plans.resolve_plan``: the person, then the deepest unit, then the job role."""
        targets = [("person", person.employee_id)]
        targets += [("unit", unit) for unit in reversed(person.org_path)]
        targets.append(("role", person.job_role))
        plan_id = next(
            (self.snap.assignments[t] for t in targets if t in self.snap.assignments),
            None,
        )
        if plan_id not in self._plans:
            version = self.snap.versions.get(plan_id) if plan_id else None
            self._plans[plan_id] = (
                plans.ResolvedPlan(plan_id, version[0], PlanRules.model_validate(version[1]))
                if version is not None
                else plans.default_plan(self.settings)
            )
        return self._plans[plan_id]

    def quota(self, person: Person, rules: PlanRules) -> Decimal | None:
        """``plans.quota_for``: the person's own quota, else the plan's, prorated and ramped."""
        own = self.snap.quotas.get(person.employee_id)
        if own is not None:
            return own
        if rules.quota is None:
            return None
        quota = effective_quota(rules.quota, self.period, hired_on=person.hired_on, ramp=rules.ramp)
        return quota if quota > 0 else rules.quota

    def inputs(self, person: Person, rows: Iterable[Any]) -> ledger.PricingInputs:
        plan = self.plan(person)
        rules = plan.rules
        kinds = ledger.BASIS_KINDS[rules.basis]
        use_margin = rules.measure == "margin"
        credits = [
            engine.Credit(
                credit_id=c.credit_id,
                deal_id=c.deal_id,
                kind=c.kind,
                basis=c.basis if use_margin else c.amount,
                occurred_at=c.occurred_at,
                deal_closed_at=c.deal_closed_at,
                product_line=c.product_line,
            )
            for c in rows
            if c.kind in kinds
        ]
        kpi = self.snap.kpi.get(person.employee_id) if rules.kpi_gate is not None else None
        return ledger.PricingInputs(person, plan, credits, self.quota(person, rules), kpi)


_LINE_TABLE = CommissionLine.__table__


async def _insert_lines(session: AsyncSession, values: list[dict[str, Any]]) -> None:
    """Append lines in bulk (COPY on PostgreSQL)."""
    await bulk_insert(await session.connection(), _LINE_TABLE, values)


def self_overrides(pricer: _Pricer, person: Person) -> bool:
    """Whether the person's manager may earn an override on them (``extras`` decides; a
    manager whose plan for the period has none is skipped without a query)."""
    if not person.manager_id or person.manager_id == person.employee_id:
        return False
    manager = pricer.snap.people.get(person.manager_id)
    return manager is None or pricer.plan(manager).rules.manager_override is not None


async def recalculate_period(
    session_factory: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    settings: CommissionSettings,
    period: str,
    *,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    reason: str | None = None,
    cause_event_id: str | None = None,
) -> RecalcReport:
    """Price every person with credits in ``period`` again; append the differences."""
    report = RecalcReport(period)
    cause = cause_event_id or f"recalc-{uuid.uuid4().hex}"
    reason = reason or f"period {period} recalculated"
    t0 = time.perf_counter()
    async with session_factory() as session:
        snap = await _load(session, period)
        await session.rollback()
    report.seconds["load"] = time.perf_counter() - t0
    report.people = len(snap.credits)
    report.credits = sum(len(v) for v in snap.credits.values())
    pricer = _Pricer(snap, settings, period)
    ids = sorted(snap.credits)
    timing = {"price": 0.0, "write": 0.0}

    def price_one(
        pid: str, person: Person
    ) -> tuple[ledger.PricingInputs, engine.PeriodPosition] | str:
        try:
            inputs = pricer.inputs(person, snap.credits[pid])
            return inputs, ledger.price(inputs)
        except engine.PricingError as exc:
            return str(exc)

    async def write(batch: Sequence[str], priced: dict[str, _Priced]) -> None:
        """One transaction: lock, re-read what may have moved, diff, append, commit."""
        async with session_factory() as session:
            tw = time.perf_counter()
            totals = {
                t.salesperson_id: t
                for t in (
                    await session.execute(
                        select(PeriodTotal)
                        .where(PeriodTotal.period == period, PeriodTotal.salesperson_id.in_(batch))
                        .with_for_update()
                    )
                ).scalars()
            }
            counts = dict(
                (
                    await session.execute(
                        select(Credit.salesperson_id, func.count())
                        .where(Credit.period == period, Credit.salesperson_id.in_(batch))
                        .group_by(Credit.salesperson_id)
                    )
                ).all()
            )
            stale = [pid for pid in batch if counts.get(pid, 0) != len(snap.credits[pid])]
            if stale:  # facts arrived since the bulk read: read and price these people again
                report.repriced_in_batch += len(stale)
                fresh: dict[str, list[Any]] = defaultdict(list)
                stmt = select(*_CREDIT_COLUMNS).where(
                    Credit.period == period, Credit.salesperson_id.in_(stale)
                )
                for row in (await (await session.connection()).execute(stmt)).all():
                    fresh[row.salesperson_id].append(row)
                for pid in stale:
                    snap.credits[pid] = fresh.get(pid, [])
                    if pid in snap.people:
                        priced[pid] = price_one(pid, snap.people[pid])
            stored: dict[str, list[Any]] = defaultdict(list)
            stmt_l = select(*_LINE_COLUMNS).where(
                CommissionLine.period == period, CommissionLine.salesperson_id.in_(batch)
            )
            for row in (await (await session.connection()).execute(stmt_l)).all():
                stored[row.salesperson_id].append(row)
            now = utcnow()
            values: list[dict[str, Any]] = []
            extra: list[tuple[Person, ledger.PricingInputs, bool]] = []
            events: list[CommissionCalculated] = []
            for pid in batch:
                person = snap.people.get(pid)
                if person is None:  # credits exist only for known people; skip as recompute
                    report.skipped_unknown += 1
                    continue
                total_row = totals.get(pid)
                if total_row is not None and total_row.status != "open":
                    report.skipped_closed += 1
                    continue
                got = priced[pid]
                if isinstance(got, str):
                    report.failed[pid] = got
                    continue
                inputs, position = got
                diff = ledger.diff_lines(
                    pid,
                    period,
                    inputs,
                    position,
                    stored[pid],
                    cause_event_id=cause,
                    currency=settings.currency,
                    now=now,
                    reason=reason,
                )
                row = ledger.apply_total(
                    total_row,
                    pid,
                    period,
                    inputs,
                    position,
                    diff,
                    currency=settings.currency,
                    now=now,
                )
                if total_row is None:
                    session.add(row)
                if inputs.plan.rules.probation is not None or (
                    diff.lines and self_overrides(pricer, person)
                ):
                    extra.append((person, inputs, bool(diff.lines)))
                if diff.lines:
                    values += diff.lines
                    report.changed_people += 1
                    report.lines_appended += len(diff.lines)
                    report.delta += diff.delta
                    event = ledger.calculated_event(
                        pid,
                        period,
                        inputs,
                        position,
                        diff,
                        row.total,
                        currency=settings.currency,
                        now=now,
                    )
                    if event is not None:
                        events.append(event)
            if values:
                await _insert_lines(session, values)
            await session.flush()
            await publisher.publish_many(session, events)
            for person, inputs, changed in extra:  # as recompute: probation, overrides
                if inputs.plan.rules.probation is not None:
                    await extras.apply_probation(
                        session,
                        publisher,
                        settings,
                        person,
                        period,
                        cause_event_id=cause,
                        plan=inputs.plan,
                    )
                if changed:
                    await extras.apply_manager_override(
                        session, publisher, settings, person, period, cause_event_id=cause
                    )
            report.events += len(events)
            await session.commit()
            timing["write"] += time.perf_counter() - tw
        report.done += len(batch)
        if progress is not None:
            progress(report)

    # Pricing the next batch (CPU here) overlaps writing the previous one (mostly the
    # database's work on the other core); the writes themselves stay one after another.
    pending: asyncio.Task[None] | None = None
    try:
        for batch in _chunks(ids, batch_size):
            tp = time.perf_counter()
            priced: dict[str, _Priced] = {}
            for i, pid in enumerate(batch):
                person = snap.people.get(pid)
                if person is not None:
                    priced[pid] = price_one(pid, person)
                if i % 10 == 9:
                    await asyncio.sleep(0)  # let the write in flight move on
            timing["price"] += time.perf_counter() - tp
            if pending is not None:
                await pending
            pending = asyncio.create_task(write(batch, priced))
        if pending is not None:
            await pending
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
    report.seconds.update(timing)
    report.seconds["total"] = time.perf_counter() - t0
    return report


# --- the command line -------------------------------------------------------------------


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m zhanli_commission recalc --period YYYY-MM``"""
    import re

    from zhanli_commission.db import event_tables
    from zhanli_shared.db import create_engine, session_factory
    from zhanli_shared.money import business_month

    parser = argparse.ArgumentParser(
        prog="zhanli-commission recalc",
        description="Price every person's period again from their credits and append the "
        "differences (lines, totals, commission.calculated events through the outbox).",
    )
    parser.add_argument("--period", help="business month YYYY-MM (default: the current one)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    settings = CommissionSettings()
    period = args.period or business_month(utcnow(), settings.timezone)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        parser.error(f"--period must be YYYY-MM, not {period!r}")

    def progress(r: RecalcReport) -> None:
        if not args.quiet:
            print(
                f"recalc {r.period}: {r.done}/{r.people} people, {r.lines_appended} lines appended",
                flush=True,
            )

    async def run() -> RecalcReport:
        db = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            return await recalculate_period(
                session_factory(db),
                Publisher(event_tables, "zhanli/commission"),
                settings,
                period,
                progress=progress,
                batch_size=args.batch_size,
            )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in report.seconds.items())
    print(f"recalc done: {report.summary()}; {timing}", flush=True)
    for pid, error in sorted(report.failed.items())[:20]:
        print(f"  not priced: {pid}: {error}", flush=True)
    return 1 if report.failed else 0
