"""Commission what-if: the real rule on a hypothetical payment, visible like the statement,
and nothing written."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from zhanli_commission.commissions.models import CommissionLine, PeriodTotal
from zhanli_commission.commissions.service import FLAT_RULE
from zhanli_commission.sales.models import Payment
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.money import business_month
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about, settled


async def _hire(svc, employee_id: str, team: str = "T1") -> None:
    await svc.publish(
        EmployeeUpserted(
            employee_id=employee_id,
            name="李雷",
            org_unit_id=team,
            org_path=["G1", "B1", team],
            manager_id="M1",
            job_role="salesperson",
            roles=["salesperson"],
        )
    )

    async def known():
        r = await svc.client.get(
            f"/api/v1/commission/people/{employee_id}/statement",
            headers=svc.auth("hr", ["hr_admin"]),
        )
        return r.status_code == 200

    await eventually(known, timeout_s=30)  # the first test of a module waits for the group join


async def _own_rows(svc, employee_id: str) -> tuple[object, ...]:
    """This test's rows only: the module's consumer may still be applying another test's
    events (its outbox, lines and totals grow meanwhile), so whole-table counts prove
    nothing. Outbox rows are this person's when they carry the id (key or payload)."""
    async with svc.runtime.sessions() as s:
        events = await outbox_rows_about(s, svc.runtime.tables.outbox, employee_id)
        counts = [
            (
                await s.execute(
                    select(func.count()).select_from(m).where(m.salesperson_id == employee_id)
                )
            ).scalar_one()
            for m in (CommissionLine, PeriodTotal, Payment)
        ]
    return (events, *counts)


async def test_what_if_quotes_the_real_rule_and_writes_nothing(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await _hire(commission, rep)
    fin = commission.auth("fin", ["finance"])
    r = await commission.client.post(
        "/api/v1/commission/deals",
        headers=fin,
        json={
            "deal_id": f"D-{rep}",
            "salesperson_id": rep,
            "customer_name": "苏州恒信机械",
            "amount": "100000.00",
            "closed_at": "2026-11-02T10:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    r = await commission.client.post(
        "/api/v1/commission/payments",
        headers=fin,
        json={
            "payment_id": f"P-{rep}-1",
            "deal_id": f"D-{rep}",
            "amount": "30000.00",
            "paid_at": "2026-11-05T10:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    me = commission.auth(rep, ["salesperson"])
    statement_url = f"/api/v1/commission/people/{rep}/statement?period=2026-11"

    async def priced():
        body = (await commission.client.get(statement_url, headers=me)).json()
        return body if len(body["lines"]) == 1 else None

    await eventually(priced)
    url = f"/api/v1/commission/people/{rep}/what-if"
    await settled(commission, rep)  # the consumer is done with this test's own events
    before = await _own_rows(commission, rep)
    r = await commission.client.post(
        url, headers=me, json={"amount": "20000.50", "paid_at": "2026-11-20T10:00:00+08:00"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("employee_id", "period", "currency", "rule")} == {
        "employee_id": rep,
        "period": "2026-11",
        "currency": "CNY",
        "rule": FLAT_RULE,
    }
    money = {
        k: Decimal(body[k])
        for k in (
            "amount",
            "current_total",
            "basis_total",
            "new_basis_total",
            "estimated_commission",
            "new_total",
            "rate",
        )
    }
    assert money == {
        "amount": Decimal("20000.50"),
        "current_total": Decimal("900.00"),
        "basis_total": Decimal("30000.00"),
        "new_basis_total": Decimal("50000.50"),
        "estimated_commission": Decimal("600.02"),
        "new_total": Decimal("1500.02"),
        "rate": Decimal("0.03"),
    }
    # An empty month, and the default period (now, in the company's time zone).
    r = await commission.client.post(
        url, headers=me, json={"amount": "100.00", "paid_at": "2026-10-31T16:30:00Z"}
    )
    assert r.json()["period"] == "2026-11"  # 00:30 on 1 November in Shanghai
    r = await commission.client.post(url, headers=me, json={"amount": "100.00", "currency": "CNY"})
    assert r.status_code == 200, r.text
    assert r.json()["period"] == business_month(dt.datetime.now(dt.UTC), "Asia/Shanghai")
    assert Decimal(r.json()["estimated_commission"]) == Decimal("3.00")
    assert await _own_rows(commission, rep) == before

    # The estimate is what the real payment then earns.
    r = await commission.client.post(
        "/api/v1/commission/payments",
        headers=fin,
        json={
            "payment_id": f"P-{rep}-2",
            "deal_id": f"D-{rep}",
            "amount": "20000.50",
            "paid_at": "2026-11-20T10:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text

    async def both():
        body = (await commission.client.get(statement_url, headers=me)).json()
        return body if len(body["lines"]) == 2 else None

    statement = await eventually(both)
    assert Decimal(statement["total"]) == money["new_total"]
    assert Decimal(statement["lines"][1]["amount"]) == money["estimated_commission"]


async def test_what_if_is_visible_like_the_statement(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await _hire(commission, rep, team="T1")
    url = f"/api/v1/commission/people/{rep}/what-if"
    body = {"amount": "1000.00"}
    await settled(commission, rep)  # the consumer is done with this test's own events
    before = await _own_rows(commission, rep)
    assert (await commission.client.post(url, json=body)).status_code == 401
    ok = [
        commission.auth(rep, ["salesperson"]),
        commission.auth("M1", ["sales_manager"], ["T1"]),
        commission.auth("F", ["finance"]),
        commission.auth("H", ["hr_bp"]),
    ]
    refused = [
        commission.auth("E-other", ["salesperson"]),
        commission.auth("M2", ["sales_manager"], ["T2"]),
        commission.auth("X", ["executive"]),
        commission.auth("I", ["integration"]),
    ]
    for headers in ok:
        r = await commission.client.post(url, json=body, headers=headers)
        assert r.status_code == 200, r.text
        assert Decimal(r.json()["estimated_commission"]) == Decimal("30.00")
    from zhanli_shared.testing.scope import assert_answered_alike

    for headers in refused:  # out of scope: answered like an unknown person
        r = await commission.client.post(url, json=body, headers=headers)
        unknown = await commission.client.post(
            "/api/v1/commission/people/E-nobody/what-if", json=body, headers=headers
        )
        assert_answered_alike(r, rep, unknown, "E-nobody")
    r = await commission.client.post(
        "/api/v1/commission/people/E-nobody/what-if", json=body, headers=ok[2]
    )
    assert r.status_code == 404
    assert await _own_rows(commission, rep) == before


async def test_what_if_refuses_bad_input_naming_the_field(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await _hire(commission, rep)
    url = f"/api/v1/commission/people/{rep}/what-if"
    me = commission.auth(rep, ["salesperson"])
    cases = [
        ({"amount": "10.00", "tip": 1}, "body.tip"),
        ({}, "body.amount"),
        ({"amount": "lots"}, "body.amount"),
        ({"amount": "0"}, "body.amount"),
        ({"amount": "-5.00"}, "body.amount"),
        ({"amount": "0.001"}, "body.amount"),
        ({"amount": "10.00", "currency": "cny"}, "body.currency"),
        ({"amount": "10.00", "currency": "USD"}, "currency"),
        ({"amount": "10.00", "paid_at": "2026-11-05T10:00:00"}, "body.paid_at"),
        ({"amount": "1000000000.01"}, "amount"),
    ]
    for body, field in cases:
        r = await commission.client.post(url, json=body, headers=me)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], (body, r.json())
