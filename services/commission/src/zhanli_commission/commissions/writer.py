"""The commission ledger's writer: the one module that writes commission lines and period
totals (``commission_lines``, ``commission_period_totals``).

Everything goes through Core statements on locked rows, never through ORM copies that a
Core write earlier in the same session could have made stale:

- ``lock_totals``: the period-total rows of some (person, period) pairs, created when
  missing (the only place they are created), locked in one ordered ``SELECT ... FOR
  UPDATE`` (two writers never price the same period at once and never deadlock) and read
  as the last committed writer left them;
- ``write_priced``: the engine's lines of many periods in bulk (``COPY`` on PostgreSQL) and
  their totals in one executemany ``UPDATE``;
- ``append_lines``: lines that are not the engine's (draws, recoveries, adjustments,
  overrides, bonuses), each published as ``commission.calculated`` with the running total;
- ``set_status``: a period position's status as its statement moves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import String, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions.models import CommissionLine, PeriodTotal
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import bulk_insert, one_of, table_of, utcnow
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import FEN

ZERO = Decimal("0.00")
IN_CHUNK = 1000
Pair = tuple[str, str]  # (person, period)

TOTALS = table_of(PeriodTotal)
LINES = table_of(CommissionLine)
PRICED_FIELDS = (
    "total",
    "basis_total",
    "lines",
    "plan_id",
    "plan_version",
    "quota",
    "attainment",
    "tier",
    "kept",
    "updated_at",
)


class LockedTotal:
    """A locked period-total row: the pricing sets its fields, ``write_priced`` stores them."""

    def __init__(self, row: Any) -> None:
        self.salesperson_id: str = row.salesperson_id
        self.period: str = row.period
        self.total: Decimal = row.total
        self.lines: int = row.lines
        self.status: str = row.status
        self.currency: str = row.currency
        # set by the pricing (``pricing.apply_total``) before ``write_priced``
        self.basis_total: Decimal = ZERO
        self.plan_id: str | None = None
        self.plan_version: int | None = None
        self.quota: Decimal | None = None
        self.attainment: Decimal | None = None
        self.tier: str | None = None
        self.kept: Decimal = ZERO
        self.updated_at: dt.datetime | None = None

    def values(self) -> dict[str, Any]:
        return {"b_person": self.salesperson_id, "b_period": self.period} | {
            name: getattr(self, name) for name in PRICED_FIELDS
        }


def _keyed_update(fields: Sequence[str]) -> Any:
    return (
        update(TOTALS)
        .where(
            TOTALS.c.salesperson_id == bindparam("b_person", type_=String()),
            TOTALS.c.period == bindparam("b_period", type_=String()),
        )
        .values({name: bindparam(name, type_=TOTALS.c[name].type) for name in fields})
    )


_UPDATE_PRICED = _keyed_update(PRICED_FIELDS)
_UPDATE_SUM = _keyed_update(("total", "lines", "updated_at"))
_UPDATE_STATUS = _keyed_update(("status", "updated_at"))


async def lock_totals(
    session: AsyncSession,
    settings: CommissionSettings,
    pairs: Sequence[Pair],
    *,
    plans: dict[Pair, tuple[str | None, int | None]] | None = None,
) -> dict[Pair, LockedTotal]:
    """Every pair's period-total row, created when missing (with ``plans``' plan id and
    version, if given), locked in a fixed order."""
    if not pairs:
        return {}
    conn = await session.connection()
    dialect = conn.dialect.name
    now = utcnow()
    plans = plans or {}
    values = [
        {
            "salesperson_id": pid,
            "period": period,
            "total": ZERO,
            "basis_total": ZERO,
            "lines": 0,
            "currency": settings.currency,
            "updated_at": now,
            "kept": ZERO,
            "status": "open",
            "plan_id": plans.get((pid, period), (None, None))[0],
            "plan_version": plans.get((pid, period), (None, None))[1],
        }
        for pid, period in pairs
    ]
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await conn.execute(dialect_insert(TOTALS).on_conflict_do_nothing(), values)
    persons = sorted({pid for pid, _ in pairs})
    periods = sorted({period for _, period in pairs})
    wanted = set(pairs)
    totals: dict[Pair, LockedTotal] = {}
    t = TOTALS.c
    for i in range(0, len(persons), IN_CHUNK):
        stmt = (
            select(t.salesperson_id, t.period, t.total, t.lines, t.status, t.currency)
            .where(
                one_of(t.salesperson_id, persons[i : i + IN_CHUNK], dialect),
                one_of(t.period, periods, dialect),
            )
            .order_by(t.salesperson_id, t.period)
            .with_for_update()
        )
        for row in (await conn.execute(stmt)).all():
            if (row.salesperson_id, row.period) in wanted:
                totals[(row.salesperson_id, row.period)] = LockedTotal(row)
    return totals


async def lock_total(
    session: AsyncSession, settings: CommissionSettings, person_id: str, period: str
) -> LockedTotal:
    return (await lock_totals(session, settings, [(person_id, period)]))[(person_id, period)]


async def write_priced(
    session: AsyncSession, lines: list[dict[str, Any]], totals: list[LockedTotal]
) -> None:
    """The engine's new lines and the priced totals (fields set by the pricing)."""
    conn = await session.connection()
    await bulk_insert(conn, LINES, lines)
    if totals:
        await conn.execute(_UPDATE_PRICED, [t.values() for t in totals])


@dataclass
class NewLine:
    """A line that is not the engine's: a draw, a recovery, an adjustment, an override, a
    bonus (``credit_id`` keys the ones kept by difference)."""

    kind: str
    amount: Decimal
    rule: str
    explanation: dict[str, Any]
    source_event_id: str
    deal_id: str = ""
    basis: Decimal = ZERO
    plan_id: str | None = None
    plan_version: int | None = None
    credit_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    """The stored line, once appended."""


async def append_lines(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    total: LockedTotal,
    lines: Sequence[NewLine],
) -> list[NewLine]:
    """Append ``lines`` (zero amounts skipped) to a locked period; the period total stays
    the sum of its lines; each line is published with the running total."""
    lines = [line for line in lines if line.amount != 0]
    if not lines:
        return []
    now = utcnow()
    rows: list[dict[str, Any]] = []
    events: list[CommissionCalculated] = []
    for line in lines:
        amount = line.amount.quantize(FEN)
        line.values = {
            "commission_id": str(uuid.uuid4()),
            "salesperson_id": total.salesperson_id,
            "period": total.period,
            "deal_id": line.deal_id,
            "payment_id": None,
            "credit_id": line.credit_id,
            "kind": line.kind,
            "basis_amount": line.basis.quantize(FEN),
            "rate": Decimal(0),
            "amount": amount,
            "own": None,
            "trueup": None,
            "tier": None,
            "plan_id": line.plan_id,
            "plan_version": line.plan_version,
            "explanation": line.explanation,
            "currency": settings.currency,
            "rule": line.rule,
            "source_event_id": line.source_event_id,
            "occurred_at": now,
            "calculated_at": now,
        }
        rows.append(line.values)
        total.total = (total.total + amount).quantize(FEN)
        total.lines += 1
        events.append(_calculated(line.values, total.total, now))
    conn = await session.connection()
    await bulk_insert(conn, LINES, rows)
    await conn.execute(
        _UPDATE_SUM,
        {
            "b_person": total.salesperson_id,
            "b_period": total.period,
            "total": total.total,
            "lines": total.lines,
            "updated_at": now,
        },
    )
    await publisher.publish_many(session, list(events))
    return lines


async def append_line(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person_id: str,
    period: str,
    line: NewLine,
) -> dict[str, Any]:
    """One line in a period (locked here); returns the stored line."""
    total = await lock_total(session, settings, person_id, period)
    await append_lines(session, publisher, settings, total, [line])
    return line.values


def _calculated(line: dict[str, Any], period_total: Decimal, now: dt.datetime) -> Any:
    return CommissionCalculated(
        commission_id=line["commission_id"],
        salesperson_id=line["salesperson_id"],
        deal_id=line["deal_id"],
        payment_id=None,
        period=line["period"],
        basis_amount=line["basis_amount"],
        rate=line["rate"],
        delta=line["amount"],
        period_total=period_total,
        currency=line["currency"],
        rule=line["rule"],
        calculated_at=now,
        kind=line["kind"],
        plan_id=line["plan_id"],
        plan_version=line["plan_version"],
    )


async def set_status(session: AsyncSession, person_id: str, period: str, status: str) -> None:
    """The period position follows its statement (a closed position is never re-priced)."""
    conn = await session.connection()
    await conn.execute(
        _UPDATE_STATUS,
        {"b_person": person_id, "b_period": period, "status": status, "updated_at": utcnow()},
    )
