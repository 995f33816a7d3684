"""Recalculating a whole period in bulk: the same lines as the per-fact path, idempotent,
closed statements untouched; on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from decimal import Decimal as D

from sqlalchemy import func, insert, select, update

from zhanli_commission.commissions import repricing
from zhanli_commission.commissions.models import CommissionLine, Credit, PeriodTotal
from zhanli_commission.commissions.recalc import RecalcReport, recalculate_period
from zhanli_commission.sales.service import people
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.testing.rows import outbox_rows_about

from .test_plans import TIERS_5_8_10, hire_as, make_plan
from .test_slice import hire

SH = dt.timezone(dt.timedelta(hours=8))


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def credit(person: str, period: str, n: int, amount: str, kind: str = "payment") -> dict:
    year, month = (int(x) for x in period.split("-"))
    deal = f"D-{person}-{n % 3}"
    return {
        "credit_id": f"{kind}:P-{person}-{n}:{person}",
        "salesperson_id": person,
        "period": period,
        "deal_id": deal,
        "kind": kind,
        "fact_id": f"P-{person}-{n}",
        "amount": D(amount),
        "basis": D(amount),
        "share": D(100),
        "product_line": None,
        "occurred_at": dt.datetime(year, month, 1 + n % 27, 10, n % 60, tzinfo=SH),
        "deal_closed_at": dt.datetime(year, month, 1, 9, 0, tzinfo=SH),
    }


async def seed(svc, rows: list[dict]) -> None:
    async with svc.runtime.sessions() as session:
        await session.execute(insert(Credit), rows)
        await session.commit()


async def lines_of(svc, period: str) -> dict[str, list[CommissionLine]]:
    out: dict[str, list[CommissionLine]] = {}
    async with svc.runtime.sessions() as session:
        stmt = select(CommissionLine).where(CommissionLine.period == period)
        for line in (await session.execute(stmt)).scalars():
            out.setdefault(line.salesperson_id, []).append(line)
    return out


async def recalc(svc, period: str, progress: list | None = None) -> RecalcReport:
    return await recalculate_period(
        svc.runtime.sessions,
        svc.runtime.publisher,
        svc.settings,
        period,
        progress=(lambda r: progress.append((r.done, r.lines_appended)))
        if progress is not None
        else None,
        batch_size=2,
    )


async def test_recalculation_appends_once_then_nothing(commission) -> None:
    period = "2026-03"
    flat, tiered, other = uid("E"), uid("E"), uid("E")
    for rep in (flat, tiered, other):
        await hire(commission, rep)
    await make_plan(
        commission,
        {"tier_mode": "retroactive", "quota": "1000", "tiers": TIERS_5_8_10},
        assign_to=tiered,
    )
    ghost = uid("X")  # credits of someone the directory does not know (yet)
    rows = [credit(flat, period, n, f"{100 + n}.00") for n in range(7)]
    rows += [credit(tiered, period, n, "300.00") for n in range(5)]
    rows += [credit(other, period, n, "50.50") for n in range(3)]
    rows += [credit(other, period, 99, "-20.00", kind="refund")]
    rows += [credit(ghost, period, n, "10.00") for n in range(2)]
    await seed(commission, rows)

    published0 = await outbox_count(commission, flat, tiered, other, ghost)
    progress: list[tuple[int, int]] = []
    first = await recalc(commission, period, progress)
    assert first.people == 4 and first.credits == len(rows)
    assert first.skipped_unknown == 1 and not first.failed
    assert first.lines_appended == 7 + 5 + 4
    assert first.changed_people == 3 and first.events == 3
    assert [done for done, _ in progress] == [2, 4]
    assert await outbox_count(commission, flat, tiered, other, ghost) == published0 + 3

    by_person = await lines_of(commission, period)
    assert set(by_person) == {flat, tiered, other}
    assert {line.kind for line in by_person[flat]} == {"earning"}
    assert sorted(line.kind for line in by_person[other]) == ["clawback"] + ["earning"] * 3
    async with commission.runtime.sessions() as session:
        totals = {
            t.salesperson_id: t
            for t in (
                await session.execute(select(PeriodTotal).where(PeriodTotal.period == period))
            ).scalars()
        }
    for rep, lines in by_person.items():
        assert sum((line.amount for line in lines), D(0)) == totals[rep].total
        assert totals[rep].lines == len(lines)
    # flat 3% of 100+...+106 = 721.00 -> 21.63; retroactive: 1500 of 1000 -> 10% of 1500
    assert totals[flat].total == D("21.63")
    assert totals[tiered].total == D("150.00") and totals[tiered].tier is not None

    second = await recalc(commission, period)
    assert second.lines_appended == 0 and second.events == 0 and second.changed_people == 0
    assert await outbox_count(commission, flat, tiered, other, ghost) == published0 + 3
    # The per-fact path agrees: re-pricing anyone once more changes nothing.
    async with commission.runtime.sessions() as session:
        for rep in (flat, tiered, other):
            assert (
                await repricing.recompute(
                    session,
                    Publisher(commission.runtime.tables, "zhanli/test"),
                    commission.settings,
                    rep,
                    period,
                    cause_event_id="test",
                )
                == 0
            )
        await session.rollback()

    # A fact arriving later, then a recalculation: only its line is appended.
    await seed(commission, [credit(flat, period, 50, "1000.00")])
    third = await recalc(commission, period)
    assert third.lines_appended == 1 and third.changed_people == 1
    assert (await recalc(commission, period)).lines_appended == 0


async def test_recalculation_reprices_after_a_plan_change_and_leaves_closed_alone(
    commission,
) -> None:
    period = "2026-04"
    reps = [uid("E"), uid("E"), uid("E")]
    for rep in reps:
        await hire(commission, rep)
    await seed(commission, [credit(rep, period, n, "400.00") for rep in reps for n in range(4)])
    first = await recalc(commission, period)
    assert first.lines_appended == 12
    # Later one statement is closed and a plan is assigned to everyone: the open ones are
    # re-priced (one repricing line per credit whose commission changed), the closed one not.
    async with commission.runtime.sessions() as session:
        await session.execute(
            update(PeriodTotal)
            .where(PeriodTotal.salesperson_id == reps[2], PeriodTotal.period == period)
            .values(status="closed")
        )
        await session.commit()
    await make_plan(commission, {"tier_mode": "flat", "rate": "0.05"}, assign_to=reps)
    second = await recalc(commission, period)
    assert second.skipped_closed == 1
    assert second.lines_appended == 8 and second.changed_people == 2
    by_person = await lines_of(commission, period)
    for rep in reps[:2]:
        assert [line.kind for line in by_person[rep]].count("repricing") == 4
        assert sum((line.amount for line in by_person[rep]), D(0)) == D("80.00")
    assert sum((line.amount for line in by_person[reps[2]]), D(0)) == D("48.00")
    assert (await recalc(commission, period)).lines_appended == 0
    async with commission.runtime.sessions() as session:
        person = await people.get(session, reps[0])
        assert person is not None
        n = (
            await session.execute(
                select(func.count()).where(
                    CommissionLine.period == period, CommissionLine.salesperson_id == reps[0]
                )
            )
        ).scalar_one()
    assert n == 8


async def test_recalculation_pays_the_manager_override_like_the_live_path(commission) -> None:
    period = "2026-05"
    mgr, rep = uid("M"), uid("E")
    await hire_as(commission, mgr, manager_id=None, job_role="sales_manager", name="刘洋")
    await hire_as(commission, rep, manager_id=mgr)
    await make_plan(
        commission,
        {"tier_mode": "flat", "rate": "0.02", "manager_override": {"rate": "0.10"}},
        assign_to=mgr,
    )
    await seed(commission, [credit(rep, period, n, "5000.00") for n in range(3)])
    first = await recalc(commission, period)
    assert first.lines_appended == 3
    by_person = await lines_of(commission, period)
    (override,) = by_person[mgr]
    assert override.kind == "override" and override.amount == D("45.00")  # 10 % of 450.00
    assert (await recalc(commission, period)).lines_appended == 0
    assert len((await lines_of(commission, period))[mgr]) == 1


async def test_recalculation_through_the_api_is_for_finance_and_hr_and_audited(commission) -> None:
    period = "2026-06"
    rep = uid("E")
    await hire(commission, rep)
    await seed(commission, [credit(rep, period, n, "1000.00") for n in range(2)])
    url = f"/api/v1/commission/periods/{period}/recalculate"
    r = await commission.client.post(url, headers=commission.auth(rep, ["salesperson"]))
    assert r.status_code == 403
    r = await commission.client.post(url, headers=commission.auth("fin", ["finance"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lines_appended"] == 2 and D(body["delta"]) == D("60.00")
    r = await commission.client.post(url, headers=commission.auth("hr", ["hr_admin"]))
    assert r.status_code == 200 and r.json()["lines_appended"] == 0
    bad = await commission.client.post(
        "/api/v1/commission/periods/2026-13/recalculate",
        headers=commission.auth("hr", ["hr_admin"]),
    )
    assert bad.status_code == 422
    outbox = commission.runtime.tables.outbox
    async with commission.runtime.sessions() as session:
        payloads = (
            await session.execute(
                select(outbox.c.payload).where(outbox.c.topic == "zhanli.audit.recorded.v1")
            )
        ).scalars()
        audited = [p for p in payloads if "commission.period.recalculated" in p and period in p]
    assert len(audited) == 2


async def test_recalculation_from_the_command_line(commission) -> None:
    period = "2026-07"
    rep = uid("E")
    await hire(commission, rep)
    await seed(commission, [credit(rep, period, n, "200.00") for n in range(3)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHANLI_")}
    env["ZHANLI_COMMISSION_DATABASE_URL"] = commission.settings.database_url
    if commission.settings.database_schema:
        env["ZHANLI_COMMISSION_DATABASE_SCHEMA"] = commission.settings.database_schema

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zhanli_commission", "recalc", "--period", period],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = await asyncio.to_thread(run)
    assert first.returncode == 0, first.stderr
    assert "1/1 people, 3 lines appended" in first.stdout
    second = await asyncio.to_thread(run)
    assert second.returncode == 0 and "0 lines appended" in second.stdout
    assert len((await lines_of(commission, period))[rep]) == 3
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "zhanli_commission", "recalc", "--period", "2026-7"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2


async def outbox_count(svc, *people: str) -> int:
    """Commission events about these people (the consumer may publish others' meanwhile)."""
    async with svc.runtime.sessions() as session:
        rows = await outbox_rows_about(
            session, svc.runtime.tables.outbox, *people, topic="zhanli.commission.calculated.v1"
        )
    return len(rows)
