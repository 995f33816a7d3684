"""Facts in: from the API (one, or up to 1,000 in one request), file imports and the sales
events. Every path is the same use case (``ingest``):

- each item is checked on its own (known person, known indicator fed by facts, a finite
  value, an aware time); a bad item is reported with the field and skipped, never half
  written; the valid ones are applied;
- idempotent by ``(source, source_id)``: the same fact again is a ``duplicate`` (nothing
  changes), a different fact under a used id is refused (``source_id``);
- a fact for a closed period counts in the next open period as an adjustment
  (``original_period`` says where it belonged): a closed period is never rewritten;
- the period's aggregate is updated in one atomic upsert, then each person touched is
  re-scored once (``boards.refresh``: the board is current when the request returns, and
  the score event is in the same transaction).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.boards import service as boards
from zhanli_kpi.boards.models import Period
from zhanli_kpi.db import people_table
from zhanli_kpi.facts import repository
from zhanli_kpi.facts.models import Fact
from zhanli_kpi.facts.schemas import FactIn, FactResult, ItemError
from zhanli_kpi.indicators import repository as indicators
from zhanli_kpi.plans import repository as plans_repo
from zhanli_kpi.revenue.service import SalesDelta
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.db import utcnow
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import business_month

FACT_SOURCES = ("facts", "manual")  # sales come as events, ratings through /ratings
SALES_INDICATORS = {
    "booked": "revenue",
    "collected": "collected_revenue",
    "deal": "deals",
    "repeat_deal": "repeat_deals",
    "new_client": "new_clients",
    "margin": "gross_profit",
}
COUNTS = ("deal", "repeat_deal", "new_client")  # counted in any currency


def next_period(period: str) -> str:
    year, month = map(int, period.split("-"))
    return f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"


async def closed_periods(session: AsyncSession, since: str) -> set[str]:
    stmt = select(Period.period).where(Period.period >= since)
    return set((await session.execute(stmt)).scalars())


def open_period(period: str, closed: set[str]) -> str:
    while period in closed:
        period = next_period(period)
    return period


@dataclass
class Outcome:
    results: list[FactResult]
    touched: set[tuple[str, str]]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


async def known_people(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[str]]:
    """employee id -> org path, for the ids the directory knows."""
    out: dict[str, list[str]] = {}
    unique = sorted(set(ids))
    for i in range(0, len(unique), 500):
        stmt = select(people_table.c.employee_id, people_table.c.org_path).where(
            people_table.c.employee_id.in_(unique[i : i + 500])
        )
        out.update({r.employee_id: list(r.org_path or []) for r in await session.execute(stmt)})
    return out


def _same(fact: Fact, item: FactIn) -> bool:
    return (
        fact.employee_id == item.employee_id
        and fact.indicator == item.indicator
        and math.isclose(fact.value, item.value, rel_tol=0, abs_tol=1e-9)
        and fact.occurred_at == item.occurred_at
    )


async def ingest(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    items: Sequence[FactIn],
    *,
    require_person: bool = True,
    allowed_sources: Sequence[str] = FACT_SOURCES,
    refresh: bool = True,
) -> Outcome:
    lib = await indicators.all_indicators(session)
    persons = await known_people(session, [i.employee_id for i in items])
    seen = await repository.existing(session, [(i.source, i.source_id) for i in items])
    periods = {business_month(i.occurred_at, settings.timezone) for i in items}
    closed = await closed_periods(session, min(periods)) if periods else set()
    unit_rules: dict[tuple[str, str], set[str]] = {}  # (period, indicator) -> units with targets
    results: list[FactResult] = []
    touched: set[tuple[str, str]] = set()
    now = utcnow()
    for index, item in enumerate(items):
        res = FactResult(
            index=index, source=item.source, source_id=item.source_id, status="rejected"
        )
        results.append(res)
        key = (item.source, item.source_id)
        if key in seen:
            old = seen[key]
            if _same(old, item):
                res.status, res.fact_id, res.period = "duplicate", old.fact_id, old.period
                res.adjustment_of = old.original_period
            else:
                res.errors.append(
                    ItemError(
                        field="source_id",
                        message=f"{item.source}/{item.source_id} was already used for another "
                        "fact; a correction is a new fact with its own id.",
                    )
                )
            continue
        ind = lib.get(item.indicator)
        if ind is None:
            res.errors.append(
                ItemError(field="indicator", message=f"Unknown indicator {item.indicator!r}.")
            )
        elif ind.source not in allowed_sources or ind.aggregation in ("ratio", "formula"):
            why = (
                "is computed from other indicators"
                if ind.aggregation in ("ratio", "formula")
                else "comes from ratings (POST /api/v1/kpi/ratings)"
                if ind.source.endswith("rating")
                else f"is fed by {ind.source}"
            )
            res.errors.append(ItemError(field="indicator", message=f"{item.indicator!r} {why}."))
        if require_person and item.employee_id not in persons:
            res.errors.append(
                ItemError(field="employee_id", message=f"Unknown person {item.employee_id!r}.")
            )
        if ind is not None and ind.scale_min is not None and item.value < ind.scale_min:
            res.errors.append(ItemError(field="value", message=f"Below {ind.scale_min}."))
        if ind is not None and ind.scale_max is not None and item.value > ind.scale_max:
            res.errors.append(ItemError(field="value", message=f"Above {ind.scale_max}."))
        if res.errors:
            continue
        period = business_month(item.occurred_at, settings.timezone)
        counts_in = open_period(period, closed)
        fact = Fact(
            fact_id=str(uuid.uuid4()),
            source=item.source,
            source_id=item.source_id,
            employee_id=item.employee_id,
            indicator=item.indicator,
            period=counts_in,
            original_period=period if counts_in != period else None,
            value=item.value,
            occurred_at=item.occurred_at,
            received_at=now,
            note=item.note,
        )
        session.add(fact)
        seen[key] = fact
        await repository.add_to_value(
            session, item.employee_id, counts_in, item.indicator, item.value, item.occurred_at
        )
        path = persons.get(item.employee_id, [])
        if path:
            rule_key = (counts_in, item.indicator)
            if rule_key not in unit_rules:
                unit_rules[rule_key] = {
                    t.scope_id
                    for t in await plans_repo.unit_targets_for_indicator(
                        session, counts_in, item.indicator
                    )
                }
            for unit in path:
                if unit in unit_rules[rule_key]:
                    await repository.add_to_value(
                        session,
                        f"unit:{unit}",
                        counts_in,
                        item.indicator,
                        item.value,
                        item.occurred_at,
                    )
                    touched.add((f"unit:{unit}", counts_in))
        res.status, res.fact_id, res.period = "created", fact.fact_id, counts_in
        res.adjustment_of = fact.original_period
        touched.add((item.employee_id, counts_in))
    await session.flush()
    if refresh:
        await rescore(session, publisher, settings, touched)
    return Outcome(results, touched)


async def rescore(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    touched: set[tuple[str, str]],
) -> None:
    """Re-score each person touched; a team whose aggregate moved re-scores its members
    (the team bonus may have changed)."""
    people_touched = {(e, p) for e, p in touched if not e.startswith("unit:")}
    for scope, period in touched:
        if scope.startswith("unit:"):
            for member in await boards.members_of(session, scope.removeprefix("unit:")):
                people_touched.add((member.employee_id, period))
    await boards.refresh_many(session, publisher, settings, people_touched)


def sales_facts(deltas: Sequence[SalesDelta], home_currency: str) -> list[FactIn]:
    """Sales deltas as indicator facts: amounts in the company currency only (amounts in
    other currencies are never added to them), counts in any currency."""
    out = []
    for d in deltas:
        if d.kind not in COUNTS and d.currency != home_currency:
            continue
        out.append(
            FactIn(
                source="sales",
                source_id=f"{d.kind}:{d.source_id}:{d.employee_id}"[:128],
                employee_id=d.employee_id,
                indicator=SALES_INDICATORS[d.kind],
                value=float(d.amount),
                occurred_at=d.at,
            )
        )
    return out


async def apply_sales(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    deltas: Sequence[SalesDelta],
) -> None:
    items = sales_facts(deltas, settings.currency)
    if items:
        await ingest(
            session, publisher, settings, items, require_person=False, allowed_sources=("sales",)
        )


def as_problem_fields(result: FactResult) -> dict[str, Any]:
    return {"errors": [e.model_dump() for e in result.errors]}


def aware(moment: dt.datetime) -> bool:
    return moment.tzinfo is not None


async def rebuild_unit(
    session: AsyncSession, unit_id: str, member_ids: Sequence[str], period: str, indicator: str
) -> None:
    """A new team target: the unit's aggregate from its members' (facts so far count)."""
    rows = [
        r
        for r in await repository.values_of_many(session, list(member_ids), period)
        if r.indicator == indicator
    ]
    await repository.set_value(
        session,
        f"unit:{unit_id}",
        period,
        indicator,
        total=sum(r.total for r in rows),
        count=sum(r.count for r in rows),
    )
