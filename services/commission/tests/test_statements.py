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

from zhanli_commission.core.plan import PlanRules
from zhanli_commission.plans.models import Plan, PlanAssignment, PlanVersion
from zhanli_commission.statements.service import draw_effect, payout_split
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
