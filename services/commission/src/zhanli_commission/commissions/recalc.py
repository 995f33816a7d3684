"""Recalculating a whole period: everyone with credits in it priced again, in batches.

The same pricing as every live fact (``repricing.reprice``: the same pure diff, lines, totals,
``commission.calculated`` events, manager overrides and probation rewards) over batches of
people, one transaction each: their period totals locked, their credits, plans, quotas, KPI
scores and stored lines read in one query each, each person priced once by the engine, the
differences appended in bulk (``COPY`` on PostgreSQL). A closed statement never changes
(those people are skipped and counted); a person whose plan cannot be priced is reported
and the rest go on. A second run right after the first appends nothing.

``python -m zhanli_commission recalc --period YYYY-MM`` runs it from the command line, and
``POST /api/v1/commission/periods/{period}/recalculate`` through the API.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_commission.commissions import repricing
from zhanli_commission.commissions.models import Credit
from zhanli_commission.commissions.snapshot import chunks
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.events.outbox import Publisher

BATCH_SIZE = 100
Progress = Callable[["RecalcReport"], None]


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
        stmt = (
            select(Credit.salesperson_id, func.count())
            .where(Credit.period == period)
            .group_by(Credit.salesperson_id)
        )
        counts = dict((pid, n) for pid, n in (await session.execute(stmt)).all())
    ids = sorted(counts)
    report.people = len(ids)
    report.credits = sum(counts.values())
    report.seconds["load"] = time.perf_counter() - t0
    for group in chunks(ids, batch_size):
        async with session_factory() as session:
            done = await repricing.reprice(
                session,
                publisher,
                settings,
                {(pid, period): [] for pid in group},
                cause_event_id=cause,
                reason=reason,
                keep_going=True,
            )
            await session.commit()
        report.changed_people += done.changed
        report.lines_appended += done.lines
        report.delta += done.delta
        report.events += done.events
        report.skipped_closed += done.closed
        report.skipped_unknown += done.unknown
        report.failed.update(done.failed)
        report.done += len(group)
        if progress is not None:
            progress(report)
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
