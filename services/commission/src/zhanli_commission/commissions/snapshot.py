"""Pricing inputs of many people for one period, read in bulk.

One query each for the period's credits, the people (and their managers), the plan
assignments and versions, quotas and KPI scores; plans are resolved in memory exactly as
``plans.resolve_plan`` and ``plans.quota_for`` do, each plan parsed once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import pricing
from zhanli_commission.commissions.models import CommissionLine, Credit
from zhanli_commission.core import engine
from zhanli_commission.core.assignment import choose_plan, period_quota, targets_of
from zhanli_commission.core.plan import PlanRules
from zhanli_commission.db import people_table
from zhanli_commission.plans import service as plans
from zhanli_commission.plans.models import KpiScore, PlanAssignment, PlanVersion, Quota
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import one_of
from zhanli_shared.directory import Person

IN_CHUNK = 1000  # ids per IN (...) list (one array parameter on PostgreSQL)

CREDIT_COLUMNS = (
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
LINE_COLUMNS = (
    CommissionLine.salesperson_id,
    CommissionLine.credit_id,
    CommissionLine.kind,
    CommissionLine.amount,
    CommissionLine.deal_id,
)


@dataclass
class Snapshot:
    """Everything of the period read in bulk before writing."""

    credits: dict[str, list[Any]]
    people: dict[str, Person]
    assignments: dict[tuple[str, str], str]
    """(target type, target id) -> plan id, for the assignments covering the period."""
    versions: dict[str, tuple[int, dict[str, Any]]]
    """plan id -> (version, rules) of the version covering the period."""
    quotas: dict[str, Decimal]
    kpi: dict[str, Decimal]


def chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def load_people(session: AsyncSession, ids: Sequence[str]) -> dict[str, Person]:
    """The directory's people of ``ids`` and their managers (whether a manager earns an
    override on them is decided by the manager's plan)."""
    dialect = (await session.connection()).dialect.name
    people: dict[str, Person] = {}
    wanted: Sequence[str] = ids
    for _ in range(2):  # the people, then their managers not among them
        for chunk in chunks(wanted):
            stmt = select(people_table).where(one_of(people_table.c.employee_id, chunk, dialect))
            for row in (await session.execute(stmt)).mappings():
                people[row["employee_id"]] = Person(
                    **{k: row[k] for k in Person.__dataclass_fields__}
                )
        wanted = sorted({p.manager_id for p in people.values() if p.manager_id} - people.keys())
    return people


async def load(
    session: AsyncSession,
    period: str,
    persons: Sequence[str] | None = None,
    people: dict[str, Person] | None = None,
) -> Snapshot:
    """The period's snapshot: of everyone with credits, or of ``persons`` only (whose
    ``load_people`` the caller may have read already)."""
    credits: dict[str, list[Any]] = defaultdict(list)
    conn = await session.connection()
    dialect = conn.dialect.name  # Core rows: no ORM loading for 100,000s of credits
    stmt = select(*CREDIT_COLUMNS).where(Credit.period == period)
    for chunk in [None] if persons is None else chunks(persons):
        chunk_stmt = (
            stmt if chunk is None else stmt.where(one_of(Credit.salesperson_id, chunk, dialect))
        )
        for row in (await conn.execute(chunk_stmt)).all():
            credits[row.salesperson_id].append(row)
    ids = sorted(credits) if persons is None else sorted(persons)
    if people is None:
        people = await load_people(session, ids)
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
            if plans._covers(v, period) and v.version > versions.get(v.plan_id, (0, {}))[0]:
                versions[v.plan_id] = (v.version, v.rules)
    quotas: dict[str, Decimal] = {}
    kpi: dict[str, Decimal] = {}
    stmt_q = select(Quota.salesperson_id, Quota.amount).where(Quota.period == period)
    stmt_k = select(KpiScore.employee_id, KpiScore.score).where(KpiScore.period == period)
    for chunk in [None] if persons is None else chunks(ids):
        q = stmt_q if chunk is None else stmt_q.where(one_of(Quota.salesperson_id, chunk, dialect))
        k = stmt_k if chunk is None else stmt_k.where(one_of(KpiScore.employee_id, chunk, dialect))
        quotas.update((p, a) for p, a in (await session.execute(q)).all())
        kpi.update((p, v) for p, v in (await session.execute(k)).all())
    return Snapshot(credits, people, assignments, versions, quotas, kpi)


class Pricer:
    """``pricing.pricing_inputs`` for many people from a snapshot, plans cached per plan."""

    def __init__(self, snap: Snapshot, settings: CommissionSettings, period: str) -> None:
        self.snap = snap
        self.settings = settings
        self.period = period
        self._plans: dict[str | None, plans.ResolvedPlan] = {}

    def plan(self, person: Person) -> plans.ResolvedPlan:
        """``plans.resolve_plan`` from the snapshot (``core.assignment.choose_plan``)."""
        targets = targets_of(person.employee_id, person.org_path, person.job_role)
        plan_id = choose_plan(targets, self.snap.assignments)
        if plan_id not in self._plans:
            version = self.snap.versions.get(plan_id) if plan_id else None
            self._plans[plan_id] = (
                plans.ResolvedPlan(plan_id, version[0], PlanRules.model_validate(version[1]))
                if version is not None
                else plans.default_plan(self.settings)
            )
        return self._plans[plan_id]

    def quota(self, person: Person, rules: PlanRules) -> Decimal | None:
        """``plans.quota_for`` from the snapshot (``core.assignment.period_quota``)."""
        quota, _ = period_quota(
            self.snap.quotas.get(person.employee_id),
            rules.quota,
            self.period,
            hired_on=person.hired_on,
            ramp=rules.ramp,
        )
        return quota

    def inputs(
        self, person: Person, rows: Iterable[Any], plan: plans.ResolvedPlan | None = None
    ) -> pricing.PricingInputs:
        """The engine's inputs for the person's credit ``rows`` (under ``plan`` instead of
        theirs: a correction's preview)."""
        plan = plan or self.plan(person)
        rules = plan.rules
        kinds = pricing.BASIS_KINDS[rules.basis]
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
        return pricing.PricingInputs(person, plan, credits, self.quota(person, rules), kpi)


async def pricing_inputs(
    session: AsyncSession,
    settings: CommissionSettings,
    person: Person,
    period: str,
    *,
    plan: plans.ResolvedPlan | None = None,
) -> pricing.PricingInputs:
    """One person's pricing inputs for a period, read as the live path reads them."""
    snap = await load(session, period, [person.employee_id], {person.employee_id: person})
    pricer = Pricer(snap, settings, period)
    return pricer.inputs(person, snap.credits.get(person.employee_id, []), plan)


def self_overrides(pricer: Pricer, person: Person) -> bool:
    """Whether the person's manager may earn an override on them (``rewards`` decides; a
    manager whose plan for the period has none is skipped without a query)."""
    if not person.manager_id or person.manager_id == person.employee_id:
        return False
    manager = pricer.snap.people.get(person.manager_id)
    return manager is None or pricer.plan(manager).rules.manager_override is not None
