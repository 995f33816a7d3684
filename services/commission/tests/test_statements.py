"""Statements through the app (SQLite and PostgreSQL): close, draws, approvals, payouts,
exports, disputes. Every test works in an org unit of its own and in past periods."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import openpyxl
from sqlalchemy import select

from zhanli_commission.core.draws import draw_effect, payout_split
from zhanli_commission.core.plan import PlanRules
from zhanli_commission.plans.models import Plan, PlanAssignment, PlanVersion
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.testing.plugin import eventually

D = Decimal
BASE = "/api/v1/commission"


# --- pure rules ------------------------------------------------------------------------------


def _rules(kind: str, amount: str = "3000.00", months: int = 2) -> PlanRules:
    return PlanRules.model_validate(
        {"rate": "0.1", "draw": {"kind": kind, "amount": amount, "months": months}}
    )


def test_draw_effect_tops_up_and_recovers() -> None:
    rec = _rules("recoverable")
    first = draw_effect(rec, 1, D("1000.00"), D("0.00"))
    assert (first.top_up, first.recovery, first.balance_after) == (D("2000.00"), 0, D("2000.00"))
    second = draw_effect(rec, 2, D("4000.00"), D("2000.00"))  # 1000 above the guarantee
    assert (second.top_up, second.recovery, second.balance_after) == (0, D("1000.00"), D("1000.00"))
    after = draw_effect(rec, 3, D("500.00"), D("1000.00"))  # window over: above zero
    assert (after.top_up, after.recovery, after.balance_after) == (0, D("500.00"), D("500.00"))
    assert draw_effect(rec, 3, D("-50.00"), D("500.00")).recovery == 0
    non = draw_effect(_rules("non_recoverable", months=1), 1, D("1000.00"), D("0.00"))
    assert (non.top_up, non.balance_after) == (D("2000.00"), D("0.00"))
    assert draw_effect(_rules("non_recoverable", months=1), 2, D("0.00"), D("0.00")).top_up == 0
    assert draw_effect(None, None, D("10.00"), D("0.00")).top_up == 0


def test_payout_never_negative_and_carries_the_rest() -> None:
    assert payout_split(D("100.00"), D("-30.00")) == (D("70.00"), D("0.00"))
    assert payout_split(D("-100.00"), D("-30.00")) == (D("0.00"), D("-130.00"))
    assert payout_split(D("30.00"), D("-30.00")) == (D("0.00"), D("0.00"))


# --- helpers ---------------------------------------------------------------------------------


def _uid() -> str:
    return uuid.uuid4().hex[:6].upper()


def fin(svc):
    return svc.auth("FIN1", ["finance"])


def hr(svc):
    return svc.auth("HR1", ["hr_admin"])


def manager(svc, unit: str, subject: str = "MGR1"):
    return svc.auth(subject, ["sales_manager"], [unit])


async def hire(svc, emp: str, unit: str, name: str, hired_on: dt.date = dt.date(2026, 1, 5)):
    await svc.publish(
        EmployeeUpserted(
            employee_id=emp,
            name=name,
            org_unit_id=unit,
            org_path=["G1", "B1", unit],
            manager_id="MGR1",
            job_role="salesperson",
            roles=["salesperson"],
            hired_on=hired_on,
        )
    )

    async def known():
        r = await svc.client.get(f"{BASE}/people/{emp}/statements/2026-08", headers=hr(svc))
        return r.status_code == 200

    await eventually(known, timeout_s=30)  # the first event waits for the relay's start


async def assign_plan(svc, emp: str, rules: dict) -> str:
    plan_id = f"PL-{emp}"
    now = dt.datetime.now(dt.UTC)
    async with svc.runtime.sessions() as s:
        s.add(Plan(plan_id=plan_id, name=f"方案 {emp}", created_at=now, created_by="test"))
        await s.flush()
        s.add(
            PlanVersion(
                version_id=f"{plan_id}-v1",
                plan_id=plan_id,
                version=1,
                effective_from="2026-01",
                effective_to=None,
                rules=rules,
                created_at=now,
                created_by="test",
            )
        )
        s.add(
            PlanAssignment(
                assignment_id=f"AS-{emp}",
                plan_id=plan_id,
                target_type="person",
                target_id=emp,
                effective_from="2026-01",
                effective_to=None,
                created_at=now,
                created_by="test",
            )
        )
        await s.commit()
    return plan_id


async def statement(svc, emp: str, period: str, headers=None) -> dict:
    r = await svc.client.get(
        f"{BASE}/people/{emp}/statements/{period}", headers=headers or fin(svc)
    )
    assert r.status_code == 200, r.text
    return r.json()


async def sell(svc, emp: str, amount: str, day: str, tag: str = "") -> str:
    """A deal and its full payment on ``day`` (company time); waits for the line."""
    deal = f"D-{emp}-{day}{tag}"
    period = day[:7]
    before = len((await statement(svc, emp, period))["lines"])
    r = await svc.client.post(
        f"{BASE}/deals",
        headers=fin(svc),
        json={
            "deal_id": deal,
            "salesperson_id": emp,
            "customer_name": "上海远航物流有限公司",
            "amount": amount,
            "closed_at": f"{day}T09:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    r = await svc.client.post(
        f"{BASE}/payments",
        headers=fin(svc),
        json={
            "payment_id": f"P-{deal}",
            "deal_id": deal,
            "amount": amount,
            "paid_at": f"{day}T10:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text

    async def priced():
        body = await statement(svc, emp, period)
        return body if len(body["lines"]) > before else None

    await eventually(priced)
    return deal


async def close(svc, period: str, unit: str, headers=None) -> dict:
    r = await svc.client.post(
        f"{BASE}/periods/{period}/close", json={"org_unit_id": unit}, headers=headers or fin(svc)
    )
    assert r.status_code == 200, r.text
    return r.json()


async def approve(svc, emp: str, period: str, headers, status: int = 200, **body) -> dict:
    r = await svc.client.post(
        f"{BASE}/people/{emp}/statements/{period}/approve", json=body or None, headers=headers
    )
    assert r.status_code == status, r.text
    if status >= 400:
        assert r.headers["content-type"] == "application/problem+json"
    return r.json()


async def approve_all(svc, emp: str, period: str, unit: str) -> None:
    await approve(svc, emp, period, manager(svc, unit))
    assert (await approve(svc, emp, period, fin(svc)))["status"] == "payable"


async def payout(svc, period: str, unit: str) -> dict:
    r = await svc.client.post(
        f"{BASE}/payouts", json={"period": period, "org_unit_id": unit}, headers=fin(svc)
    )
    assert r.status_code == 201, r.text
    return r.json()


async def outbox_topics(svc) -> list[str]:
    outbox = svc.runtime.tables.outbox
    async with svc.runtime.sessions() as s:
        return list((await s.execute(select(outbox.c.topic))).scalars())


# --- the lifecycle ---------------------------------------------------------------------------


async def test_lifecycle_close_approve_refuse_correct_pay_export(commission) -> None:
    svc, unit = commission, f"T{_uid()}"
    rep, idle = f"E{_uid()}", f"E{_uid()}"
    await hire(svc, rep, unit, "王小明")
    await hire(svc, idle, unit, "李四")
    for emp in (rep, idle):
        await assign_plan(svc, emp, {"tier_mode": "flat", "rate": "0.10"})
    await sell(svc, rep, "30000.00", "2026-08-10")
    open_st = await statement(svc, rep, "2026-08")
    assert open_st["status"] == "open" and D(open_st["total"]) == D("3000.00")
    line = open_st["lines"][0]
    assert line["kind"] == "earning" and D(line["rate"]) == D("0.1")
    assert D(line["basis_amount"]) == D("30000.00") and line["rule"] and line["explanation"]

    # Nothing to approve before the close.
    await approve(svc, rep, "2026-08", manager(svc, unit), 409)
    # Only finance and HR close; never a period that has not started.
    r = await svc.client.post(
        f"{BASE}/periods/2026-08/close", json={"org_unit_id": unit}, headers=manager(svc, unit)
    )
    assert r.status_code == 403
    r = await svc.client.post(f"{BASE}/periods/2099-01/close", headers=fin(svc))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "period"

    result = await close(svc, "2026-08", unit)
    assert result["closed"] == 2 and result["created_without_activity"] == 1
    assert (await close(svc, "2026-08", unit, hr(svc)))["already_closed"] == 2
    closed = await statement(svc, rep, "2026-08")
    assert closed["status"] == "closed" and D(closed["total"]) == D("3000.00")
    assert closed["closed_at"] and closed["name"] == "王小明"
    assert (await statement(svc, idle, "2026-08"))["status"] == "closed"

    # Approval: the manager first, then finance; anyone else is refused.
    await approve(svc, rep, "2026-08", fin(svc), 409)  # finance before the manager
    await approve(svc, rep, "2026-08", manager(svc, "T-OTHER", "MGR2"), 403)  # wrong manager
    await approve(svc, rep, "2026-08", svc.auth(rep, ["salesperson"]), 403)
    await approve(svc, rep, "2026-08", svc.auth(rep, ["sales_manager"], [unit]), 403)  # self
    body = await approve(svc, rep, "2026-08", manager(svc, unit), comment="核对无误")
    assert body["status"] == "manager_approved"
    await approve(svc, rep, "2026-08", manager(svc, unit), 409)  # twice
    await approve(svc, rep, "2026-08", fin(svc))

    # Finance refuses it: back to closed with the reason, corrected, approved again.
    r = await svc.client.post(
        f"{BASE}/people/{rep}/statements/2026-08/reject",
        json={"reason": "漏算季度奖 missing bonus"},
        headers=fin(svc),
    )
    assert r.status_code == 200, r.text
    refused = r.json()
    assert refused["status"] == "closed"
    assert refused["rejection"]["reason"] == "漏算季度奖 missing bonus"
    assert [h["action"] for h in refused["approvals"]] == [
        "close",
        "manager_approve",
        "finance_approve",
        "reject",
    ]
    r = await svc.client.post(
        f"{BASE}/people/{rep}/statements/2026-08/adjustments",
        json={"amount": "100.00", "reason": "季度奖"},
        headers=manager(svc, unit),
    )
    assert r.status_code == 403
    r = await svc.client.post(
        f"{BASE}/people/{rep}/statements/2026-08/adjustments",
        json={"amount": "100.00", "reason": "季度奖"},
        headers=fin(svc),
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "adjustment"
    await approve_all(svc, rep, "2026-08", unit)
    r = await svc.client.post(
        f"{BASE}/people/{rep}/statements/2026-08/adjustments",
        json={"amount": "1.00", "reason": "too late"},
        headers=fin(svc),
    )
    assert r.status_code == 409  # approved statements are not corrected
    await approve_all(svc, idle, "2026-08", unit)

    batch = await payout(svc, "2026-08", unit)
    items = {i["salesperson_id"]: i for i in batch["items"]}
    assert D(items[rep]["amount"]) == D("3100.00") and D(items[idle]["amount"]) == 0
    assert D(batch["total_amount"]) == D("3100.00") and batch["status"] == "created"
    r = await svc.client.post(
        f"{BASE}/payouts", json={"period": "2026-08", "org_unit_id": unit}, headers=fin(svc)
    )
    assert r.status_code == 409  # nothing left to pay
    bid = batch["batch_id"]
    integration = svc.auth("payroll", ["integration"])
    assert (await svc.client.get(f"{BASE}/payouts/{bid}", headers=integration)).status_code == 200
    assert (
        await svc.client.get(f"{BASE}/payouts/{bid}", headers=svc.auth(rep, ["salesperson"]))
    ).status_code == 403
    assert (
        await svc.client.get(f"{BASE}/payouts/{bid}", headers=manager(svc, unit))
    ).status_code == 403

    # CSV for payroll: UTF-8 with a BOM, Chinese names intact.
    r = await svc.client.get(f"{BASE}/payouts/{bid}.csv", headers=integration)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_id = {row["employee_id"]: row for row in rows}
    assert by_id[rep]["name"] == "王小明" and by_id[idle]["name"] == "李四"
    assert D(by_id[rep]["amount"]) == D("3100.00") and by_id[rep]["period"] == "2026-08"

    # XLSX for finance.
    r = await svc.client.get(f"{BASE}/payouts/{bid}.xlsx", headers=fin(svc))
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    header, *data = list(ws.iter_rows(values_only=True))
    sheet = {row[header.index("employee_id")]: row for row in data}
    assert sheet[rep][header.index("name")] == "王小明"
    assert D(str(sheet[rep][header.index("amount")])) == D("3100")
    assert sheet[idle][header.index("name")] == "李四"

    r = await svc.client.post(
        f"{BASE}/payouts/{bid}/paid", json={"payment_reference": "工资 2026-09"}, headers=fin(svc)
    )
    assert r.status_code == 200 and r.json()["status"] == "paid"
    assert (
        await svc.client.post(f"{BASE}/payouts/{bid}/paid", headers=fin(svc))
    ).status_code == 409
    paid = await statement(svc, rep, "2026-08", svc.auth(rep, ["salesperson"]))
    assert paid["status"] == "paid" and paid["payout"]["batch_id"] == bid
    assert D(paid["payable"]) == D("3100.00")
    topics = await outbox_topics(svc)
    assert "zhanli.commission.statement_status_changed.v1" in topics
    assert "zhanli.commission.payout_batch_created.v1" in topics


async def test_late_fact_goes_to_the_next_open_period(commission) -> None:
    svc, unit, rep = commission, f"T{_uid()}", f"E{_uid()}"
    await hire(svc, rep, unit, "赵敏")
    await assign_plan(svc, rep, {"tier_mode": "flat", "rate": "0.10"})
    await sell(svc, rep, "1000.00", "2026-08-05")
    await close(svc, "2026-08", unit)
    deal = f"D-{rep}-late"
    h = fin(svc)
    r = await svc.client.post(
        f"{BASE}/deals",
        headers=h,
        json={
            "deal_id": deal,
            "salesperson_id": rep,
            "customer_name": "深圳海捷供应链",
            "amount": "2000.00",
            "closed_at": "2026-08-20T09:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    r = await svc.client.post(
        f"{BASE}/payments",
        headers=h,
        json={
            "payment_id": f"P-{deal}",
            "deal_id": deal,
            "amount": "2000.00",
            "paid_at": "2026-08-21T10:00:00+08:00",
        },
    )
    assert r.status_code == 201

    async def september():
        body = await statement(svc, rep, "2026-09")
        return body if body["lines"] else None

    sep = await eventually(september)
    assert D(sep["total"]) == D("200.00") and sep["status"] == "open"
    aug = await statement(svc, rep, "2026-08")
    assert D(aug["total"]) == D("100.00") and len(aug["lines"]) == 1


async def settle(svc, emp: str, period: str, unit: str) -> dict:
    """Close, approve twice and pay out one person's period; returns their payout item."""
    await close(svc, period, unit)
    await approve_all(svc, emp, period, unit)
    batch = await payout(svc, period, unit)
    return next(i for i in batch["items"] if i["salesperson_id"] == emp)


async def test_negative_balance_is_carried_to_the_next_payout(commission) -> None:
    svc, unit, rep = commission, f"T{_uid()}", f"E{_uid()}"
    await hire(svc, rep, unit, "钱多多")
    await assign_plan(svc, rep, {"tier_mode": "flat", "rate": "0.10"})
    deal = await sell(svc, rep, "10000.00", "2026-08-08")
    item = await settle(svc, rep, "2026-08", unit)
    assert D(item["amount"]) == D("1000.00") and D(item["carried_out"]) == 0

    # September: the August deal is refunded; the clawback makes the month negative.
    r = await svc.client.post(
        f"{BASE}/refunds",
        headers=fin(svc),
        json={
            "refund_id": f"R-{rep}",
            "deal_id": deal,
            "amount": "10000.00",
            "refunded_at": "2026-09-03T10:00:00+08:00",
            "reason": "客户退货",
        },
    )
    assert r.status_code == 201, r.text

    async def clawed():
        body = await statement(svc, rep, "2026-09")
        return body if body["lines"] else None

    sep = await eventually(clawed)
    negative = D(sep["total"])
    assert negative < 0 and sep["lines"][0]["kind"] == "clawback"
    item = await settle(svc, rep, "2026-09", unit)
    assert D(item["amount"]) == 0 and D(item["carried_out"]) == negative  # never dropped
    sep = await statement(svc, rep, "2026-09")
    assert D(sep["payable"]) == 0 and D(sep["payout"]["carried_out"]) == negative

    # October earns 3000: the carried balance is taken off the next payout.
    await sell(svc, rep, "30000.00", "2026-10-09")
    octo = await statement(svc, rep, "2026-10", svc.auth(rep, ["salesperson"]))
    assert D(octo["carried_balance"]) == negative and octo["payable"] is None
    r = await svc.client.get(f"{BASE}/people/{rep}/statement?period=2026-10", headers=fin(svc))
    assert D(r.json()["carried_balance"]) == negative
    await close(svc, "2026-10", unit)
    assert D((await statement(svc, rep, "2026-10"))["payable"]) == D("3000.00") + negative
    await approve_all(svc, rep, "2026-10", unit)
    batch = await payout(svc, "2026-10", unit)
    item = batch["items"][0]
    assert D(item["carried_in"]) == negative
    assert D(item["amount"]) == D("3000.00") + negative and D(item["carried_out"]) == 0


async def test_draws_recoverable_and_non_recoverable_across_periods(commission) -> None:
    svc, unit = commission, f"T{_uid()}"
    rec, non, idle = f"E{_uid()}", f"E{_uid()}", f"E{_uid()}"
    hired = dt.date(2026, 8, 1)
    await hire(svc, rec, unit, "孙可追", hired)
    await hire(svc, non, unit, "周不追", hired)
    await hire(svc, idle, unit, "吴新人", hired)
    draw = {"kind": "recoverable", "amount": "3000.00", "months": 2}
    await assign_plan(svc, rec, {"tier_mode": "flat", "rate": "0.10", "draw": draw})
    draw = {"kind": "non_recoverable", "amount": "3000.00", "months": 1}
    await assign_plan(svc, non, {"tier_mode": "flat", "rate": "0.10", "draw": draw})
    draw = {"kind": "non_recoverable", "amount": "2000.00", "months": 3}
    await assign_plan(svc, idle, {"tier_mode": "flat", "rate": "0.10", "draw": draw})

    # August, month 1: both earn 1000 and are topped up to the 3000 guarantee.
    await sell(svc, rec, "10000.00", "2026-08-11")
    await sell(svc, non, "10000.00", "2026-08-12")
    result = await close(svc, "2026-08", unit)
    assert result["draw_lines"] == 3 and result["created_without_activity"] == 1
    aug = await statement(svc, rec, "2026-08")
    draw_line = next(ln for ln in aug["lines"] if ln["kind"] == "draw")
    assert D(draw_line["amount"]) == D("2000.00") and draw_line["rule"] == "draw_recoverable"
    assert draw_line["explanation"]["guarantee"] == "3000.00"
    assert draw_line["explanation"]["month_of_service"] == 1
    assert D(aug["total"]) == D("3000.00") and D(aug["draw_total"]) == D("2000.00")
    assert D(aug["earnings_total"]) == D("1000.00") and D(aug["draw_balance"]) == D("2000.00")
    aug_non = await statement(svc, non, "2026-08")
    assert D(aug_non["total"]) == D("3000.00") and D(aug_non["draw_balance"]) == 0
    aug_idle = await statement(svc, idle, "2026-08")
    assert D(aug_idle["total"]) == D("2000.00") and aug_idle["lines"][0]["kind"] == "draw"

    # The balance is shown on every statement, the open ones included.
    assert D((await statement(svc, rec, "2026-09"))["draw_balance"]) == D("2000.00")
    r = await svc.client.get(f"{BASE}/people/{rec}/statement?period=2026-08", headers=fin(svc))
    legacy = r.json()
    assert legacy["status"] == "closed" and D(legacy["draw_balance"]) == D("2000.00")
    assert D(legacy["total"]) == D("3000.00")

    # September, month 2: 4000 earned, 1000 above the guarantee recovers 1000.
    await sell(svc, rec, "40000.00", "2026-09-10")
    await sell(svc, non, "1000.00", "2026-09-10")
    await close(svc, "2026-09", unit)
    sep = await statement(svc, rec, "2026-09")
    recovery = next(ln for ln in sep["lines"] if ln["kind"] == "draw_recovery")
    assert D(recovery["amount"]) == D("-1000.00")
    assert D(sep["total"]) == D("3000.00") and D(sep["draw_balance"]) == D("1000.00")
    sep_non = await statement(svc, non, "2026-09")  # the guarantee ended after month 1
    assert D(sep_non["total"]) == D("100.00") and sep_non["draw_total"] in ("0", "0.00")

    # October, month 3: the guarantee is over; what is owed is recovered from any earnings.
    await sell(svc, rec, "5000.00", "2026-10-10")
    await close(svc, "2026-10", unit)
    octo = await statement(svc, rec, "2026-10")
    assert D(octo["total"]) == 0 and D(octo["draw_balance"]) == D("500.00")
    assert D((await statement(svc, rec, "2026-11"))["draw_balance"]) == D("500.00")


async def test_dispute_accepted_becomes_an_adjustment_in_the_open_period(commission) -> None:
    svc, unit, rep = commission, f"T{_uid()}", f"E{_uid()}"
    await hire(svc, rep, unit, "郑有疑")
    await assign_plan(svc, rep, {"tier_mode": "flat", "rate": "0.10"})
    await sell(svc, rep, "20000.00", "2026-08-15")
    await close(svc, "2026-08", unit)
    line = (await statement(svc, rep, "2026-08"))["lines"][0]
    url = f"{BASE}/lines/{line['commission_id']}/disputes"
    me = svc.auth(rep, ["salesperson"])
    body = {"reason": "这笔应按 12% 计 (should be 12%)"}
    assert (await svc.client.post(url, json=body, headers=fin(svc))).status_code == 403
    assert (await svc.client.post(url, json=body, headers=manager(svc, unit))).status_code == 403
    r = await svc.client.post(f"{BASE}/lines/nope/disputes", json=body, headers=me)
    assert r.status_code == 404
    r = await svc.client.post(url, json=body, headers=me)
    assert r.status_code == 201, r.text
    dispute = r.json()
    assert dispute["status"] == "open" and dispute["period"] == "2026-08"
    assert (await svc.client.post(url, json=body, headers=me)).status_code == 409

    listing = await svc.client.get(
        f"{BASE}/people/{rep}/disputes?period=2026-08", headers=manager(svc, unit)
    )
    assert [d["dispute_id"] for d in listing.json()["items"]] == [dispute["dispute_id"]]
    other = svc.auth("E-other", ["salesperson"])
    hidden = await svc.client.get(f"{BASE}/people/{rep}/disputes", headers=other)
    assert hidden.status_code == 404  # like an unknown person: no id enumeration
    assert (await statement(svc, rep, "2026-08"))["open_disputes"] == 1

    resolve = f"{BASE}/disputes/{dispute['dispute_id']}/resolve"
    accept = {"decision": "accepted", "answer": "同意, 补 2%", "amount": "400.00"}
    r = await svc.client.post(resolve, json=accept, headers=manager(svc, "T-OTHER", "MGR2"))
    assert r.status_code == 403
    r = await svc.client.post(resolve, json=accept, headers=me)
    assert r.status_code == 403
    r = await svc.client.post(resolve, json={**accept, "amount": None}, headers=fin(svc))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "amount"
    r = await svc.client.post(resolve, json=accept, headers=manager(svc, unit))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "accepted" and done["adjustment_period"] == "2026-09"
    assert (await svc.client.post(resolve, json=accept, headers=fin(svc))).status_code == 409

    # August is closed and stays as it was; the adjustment is in September, explained.
    aug = await statement(svc, rep, "2026-08")
    assert D(aug["total"]) == D("2000.00") and len(aug["lines"]) == 1
    sep = await statement(svc, rep, "2026-09", me)
    adj = sep["lines"][0]
    assert adj["kind"] == "adjustment" and D(adj["amount"]) == D("400.00")
    assert adj["commission_id"] == done["adjustment_commission_id"]
    assert adj["explanation"]["dispute_id"] == dispute["dispute_id"]
    assert D(sep["total"]) == D("400.00")

    # A second question on the same line, rejected: nothing is booked.
    r = await svc.client.post(url, json={"reason": "再核对一次"}, headers=me)
    assert r.status_code == 201
    second = r.json()["dispute_id"]
    r = await svc.client.post(
        f"{BASE}/disputes/{second}/resolve",
        json={"decision": "rejected", "answer": "按方案 10% 正确"},
        headers=fin(svc),
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["adjustment_commission_id"] is None
    assert len((await statement(svc, rep, "2026-09"))["lines"]) == 1
    r = await svc.client.get(f"{BASE}/disputes/{second}", headers=me)
    assert r.status_code == 200 and r.json()["answer"] == "按方案 10% 正确"


async def test_payout_batches_are_listed_newest_first_page_by_page(commission) -> None:
    from zhanli_commission.statements.models import PayoutBatch
    from zhanli_shared.db import utcnow

    svc, period = commission, f"2019-{1 + int(_uid()[:2], 16) % 12:02d}"
    t0 = utcnow().replace(microsecond=0)
    ids = [f"PB-{period}-{_uid()}-{i}" for i in range(5)]
    async with svc.runtime.sessions() as session:
        for i, bid in enumerate(ids):  # the last two share a creation time (ties by id)
            session.add(
                PayoutBatch(
                    batch_id=bid,
                    period=period,
                    org_unit_id=None,
                    status="paid" if i == 0 else "created",
                    currency="CNY",
                    total_amount=D(f"{1000 * (i + 1)}.50"),
                    items=i + 1,
                    created_at=t0 + dt.timedelta(minutes=min(i, 3)),
                    created_by="fin",
                    paid_at=t0 if i == 0 else None,
                    paid_by="fin" if i == 0 else None,
                    payment_reference="工资 2019" if i == 0 else None,
                )
            )
        await session.commit()
    newest_first = [ids[4], ids[3]] if ids[4] > ids[3] else [ids[3], ids[4]]
    newest_first += [ids[2], ids[1], ids[0]]

    integration = svc.auth("payroll", ["integration"])
    seen, cursor = [], None
    for _ in range(4):
        params = {"period": period, "limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await svc.client.get(f"{BASE}/payouts", params=params, headers=integration)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [b["batch_id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    first = page["items"][-1]
    assert first["status"] == "paid" and D(first["total_amount"]) == D("1000.50")
    assert first["items"] == 1 and first["payment_reference"] == "工资 2019"

    r = await svc.client.get(
        f"{BASE}/payouts", params={"period": period, "status": "created"}, headers=fin(svc)
    )
    assert [b["batch_id"] for b in r.json()["items"]] == newest_first[:4]
    assert r.json()["next_cursor"] is None
    for params, field in (
        ({"period": "2019-13"}, "period"),
        ({"status": "lost"}, "status"),
        ({"limit": 0}, "limit"),
        ({"cursor": "PB-NOT-OURS"}, "cursor"),
    ):
        r = await svc.client.get(f"{BASE}/payouts", params=params, headers=fin(svc))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == f"query.{field}"
    for who in (svc.auth("E1", ["salesperson"]), svc.auth("M1", ["sales_manager"], ["T1"])):
        assert (await svc.client.get(f"{BASE}/payouts", headers=who)).status_code == 403


async def test_correcting_a_closed_statement_redraws_its_guarantee(commission) -> None:
    svc, unit = commission, f"T{_uid()}"
    rec, non = f"E{_uid()}", f"E{_uid()}"
    hired = dt.date(2026, 6, 1)
    await hire(svc, rec, unit, "钱可追", hired)
    await hire(svc, non, unit, "冯不追", hired)
    draw = {"kind": "recoverable", "amount": "3000.00", "months": 2}
    await assign_plan(svc, rec, {"tier_mode": "flat", "rate": "0.10", "draw": draw})
    draw = {"kind": "non_recoverable", "amount": "3000.00", "months": 2}
    await assign_plan(svc, non, {"tier_mode": "flat", "rate": "0.10", "draw": draw})
    await sell(svc, rec, "10000.00", "2026-06-11")  # earns 1000: topped up by 2000
    await sell(svc, non, "10000.00", "2026-06-12")
    await close(svc, "2026-06", unit)
    assert D((await statement(svc, rec, "2026-06"))["draw_balance"]) == D("2000.00")

    async def adjust(rep: str, amount: str) -> dict:
        r = await svc.client.post(
            f"{BASE}/people/{rep}/statements/2026-06/adjustments",
            json={"amount": amount, "reason": "漏记回款 missed payment"},
            headers=fin(svc),
        )
        assert r.status_code == 201, r.text
        return await statement(svc, rep, "2026-06")

    # +500 of earnings: the top-up shrinks by 500, so does what is owed back.
    st = await adjust(rec, "500.00")
    draws = [ln for ln in st["lines"] if ln["kind"] == "draw"]
    assert [D(ln["amount"]) for ln in draws] == [D("2000.00"), D("-500.00")]
    assert "top-up to the guarantee now 1500.00" in draws[-1]["explanation"]["notes"][0]
    assert D(st["total"]) == D("3000.00") and D(st["earnings_total"]) == D("1500.00")
    assert D(st["draw_balance"]) == D("1500.00")
    assert D((await statement(svc, rec, "2026-07"))["draw_balance"]) == D("1500.00")

    # +2500 above a non-recoverable guarantee: no top-up left; the total is what was earned.
    st = await adjust(non, "2500.00")
    assert D(st["total"]) == D("3500.00") and D(st["draw_total"]) == 0
    assert D(st["draw_balance"]) == 0
    # A correction down again: the top-up comes back.
    st = await adjust(non, "-1000.00")
    assert D(st["total"]) == D("3000.00") and D(st["draw_total"]) == D("500.00")


async def test_a_run_of_kpi_events_for_a_team_keeps_the_managers_total_exact(commission) -> None:
    """KPI events for a rep, their manager, then another rep of the manager, handled in one
    transaction (the consumer's run of a topic without a batch handler): the manager's
    total is written after their own re-pricing and both overrides, always as the sum of
    their lines (no stale copy of the total overwrites a newer write)."""
    import datetime as dt

    from aiokafka.structs import ConsumerRecord

    from zhanli_commission.commissions import handlers
    from zhanli_shared.events.consumer import ConsumerRunner, HandlerRegistry
    from zhanli_shared.events.contracts.kpi import KpiScoreUpdated
    from zhanli_shared.events.envelope import CloudEvent

    from .test_plans import TIERS_5_8_10, deal, hire_as, make_plan, pay, statement, uid

    mgr, rep1, rep2 = uid("M"), uid("E"), uid("E")
    await hire_as(commission, mgr, manager_id=None)
    for rep in (rep1, rep2):
        await hire_as(commission, rep, manager_id=mgr)
    await make_plan(
        commission,
        {
            "tier_mode": "graduated",
            "quota": "10000",
            "tiers": TIERS_5_8_10,
            "kpi_gate": {"threshold": "0.9"},
            "manager_override": {"rate": "0.1"},
        },
        assign_to=[mgr, rep1, rep2],
    )
    for rep in (mgr, rep1, rep2):
        d = await deal(commission, rep, "20000.00")
        await pay(commission, d, "15000.00", day=3)
    for rep in (mgr, rep1, rep2):
        await statement(commission, rep, lines=1)
    await statement(commission, mgr, lines=3)  # own earning + two overrides

    registry = HandlerRegistry()
    handlers.register(registry, commission.runtime.publisher, commission.settings)
    runner = ConsumerRunner(
        commission.settings,
        commission.runtime.sessions,
        commission.runtime.tables,
        registry,
        group_id=uid("g-"),
    )
    now = dt.datetime.now(dt.UTC)
    records = []
    for i, person in enumerate((rep1, mgr, rep2)):
        event = KpiScoreUpdated(
            employee_id=person, period="2026-09", score=D("0.95"), calculated_at=now
        )
        envelope = CloudEvent(
            source="zhanli/kpi",
            type=event.topic_name(),
            subject=person,
            time=now,
            data=event.model_dump(mode="json"),
        )
        records.append(
            ConsumerRecord(event.topic_name(), 0, i, 0, 0, None, envelope.to_json(), None, 0, 0, ())
        )
    await runner.process_batch(records)
    assert runner.handled_total == 3

    # each rep: 15,000 at 5 % to 10,000 then 8 % (gate open) = 500 + 400 = 900
    for rep in (rep1, rep2):
        body = await statement(commission, rep, lines=2)
        assert D(body["total"]) == D("900.00")
    body = await statement(commission, mgr, lines=6)
    lines = body["lines"]
    assert D(body["total"]) == sum((D(line["amount"]) for line in lines), D(0))
    assert D(body["total"]) == D("900.00") + 2 * D("90.00")  # own + 10 % of each rep's 900
    async with commission.runtime.sessions() as session:
        from zhanli_commission.commissions.models import PeriodTotal

        total = await session.get(PeriodTotal, (mgr, "2026-09"))
        assert total is not None and total.lines == len(lines) and total.total == D("1080.00")
