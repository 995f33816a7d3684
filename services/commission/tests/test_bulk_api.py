"""Batches through the API: deals, payments, refunds and cancellations, up to 1,000 a request,
one transaction, a result per item with the single route's problem, idempotent by source id;
and the read-only sessions of the GET routes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from zhanli_commission.commissions.models import CommissionLine
from zhanli_commission.db import event_tables
from zhanli_commission.sales.models import Deal, Payment, Refund
from zhanli_shared.batch import BATCH_MAX
from zhanli_shared.db import ReadOnlyViolation
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about

from .test_slice import finance, hire

API = "/api/v1/commission"


def deal_body(rep: str, n: int = 0, amount: str = "10000.00") -> dict:
    return {
        "deal_id": f"D-{rep}-{n}",
        "salesperson_id": rep,
        "customer_name": "深圳前海贸易有限公司",
        "amount": amount,
        "currency": "CNY",
        "closed_at": "2026-11-02T10:00:00+08:00",
        "source": "crm",
    }


def payment_body(rep: str, n: int, amount: str, deal: int = 0) -> dict:
    return {
        "payment_id": f"P-{rep}-{n}",
        "deal_id": f"D-{rep}-{deal}",
        "amount": amount,
        "currency": "CNY",
        "paid_at": "2026-11-10T10:00:00+08:00",
        "source": "erp",
    }


async def test_deals_batch_records_each_deal_once(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    items = [
        deal_body(rep, 0),
        deal_body(rep, 1),
        {**deal_body(rep, 2), "salesperson_id": "NOBODY"},  # refused: unknown person
        {**deal_body(rep, 3), "amount": "-1"},  # refused by validation
    ]
    r = await commission.client.post(
        f"{API}/deals:batch", json={"items": items}, headers=finance(commission)
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert [i["status"] for i in out["items"]] == ["created", "created", "refused", "refused"]
    assert (out["created"], out["exists"], out["refused"]) == (2, 0, 2)
    # the single route's problems, naming the field
    single = await commission.client.post(
        f"{API}/deals", json=items[2], headers=finance(commission)
    )
    assert single.status_code == 422
    problem = out["items"][2]["problem"]
    assert problem["status"] == 422 and problem["detail"] == single.json()["detail"]
    assert problem["errors"][0]["field"] == "salesperson_id"
    invalid = await commission.client.post(
        f"{API}/deals", json=items[3], headers=finance(commission)
    )
    assert out["items"][3]["problem"]["errors"][0]["field"] == "body.amount"
    assert invalid.json()["errors"][0]["field"] == "body.amount"
    # sent again: the same deals exist, nothing new; another deal under a used id conflicts
    again = await commission.client.post(
        f"{API}/deals:batch",
        json={"items": [items[0], {**items[1], "amount": "99.00"}]},
        headers=finance(commission),
    )
    assert [i["status"] for i in again.json()["items"]] == ["exists", "refused"]
    assert again.json()["items"][1]["problem"]["status"] == 409
    async with commission.runtime.sessions() as s:
        ids = (await s.execute(select(Deal.deal_id).where(Deal.salesperson_id == rep))).scalars()
        assert sorted(ids) == [f"D-{rep}-0", f"D-{rep}-1"]
    assert await about(commission, f"D-{rep}-2") == 0


async def test_payments_batch_checks_each_and_writes_the_rest(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    r = await commission.client.post(
        f"{API}/deals:batch",
        json={"items": [deal_body(rep, 0), deal_body(rep, 1)]},
        headers=finance(commission),
    )
    assert r.json()["created"] == 2, r.text
    items = [
        payment_body(rep, 0, "4000.00"),
        payment_body(rep, 1, "7000.00"),  # more than still owed after the first: refused
        payment_body(rep, 2, "6000.00"),  # exactly what is owed: accepted
        payment_body(rep, 3, "10.00", deal=9),  # unknown deal
        {**payment_body(rep, 4, "1.00"), "currency": "USD"},  # not the deal's currency
        payment_body(rep, 5, "500.00", deal=1),
        payment_body(rep, 5, "500.00", deal=1),  # the same payment twice: exists
        {"payment_id": f"P-{rep}-6"},  # invalid body
    ]
    r = await commission.client.post(
        f"{API}/payments:batch", json={"items": items}, headers=finance(commission)
    )
    assert r.status_code == 200, r.text
    out = r.json()["items"]
    assert [i["status"] for i in out] == [
        "created",
        "refused",
        "created",
        "refused",
        "refused",
        "created",
        "exists",
        "refused",
    ]
    assert [i["id"] for i in out[:7]] == [it["payment_id"] for it in items[:7]]
    assert out[1]["problem"]["errors"][0]["field"] == "amount"
    assert out[3]["problem"]["errors"][0]["field"] == "deal_id"
    assert out[4]["problem"]["errors"][0]["field"] == "currency"
    assert out[7]["problem"]["status"] == 422
    # the same problem as the single route for the same item
    single = await commission.client.post(
        f"{API}/payments", json=items[3], headers=finance(commission)
    )
    assert single.status_code == 422 and single.json()["detail"] == out[3]["problem"]["detail"]
    async with commission.runtime.sessions() as s:
        paid = dict(
            (
                await s.execute(
                    select(Payment.payment_id, Payment.amount).where(Payment.salesperson_id == rep)
                )
            ).all()
        )
        deal0 = await s.get(Deal, f"D-{rep}-0")
    assert sorted(paid) == [f"P-{rep}-0", f"P-{rep}-2", f"P-{rep}-5"]
    assert str(deal0.collected) == "10000.00"
    # one event per payment written, none for the refused ones
    assert await about(commission, f"P-{rep}-0") >= 1
    assert await about(commission, f"P-{rep}-1") == 0
    # sent again after a timeout: nothing moves; the same id with other facts conflicts
    again = await commission.client.post(
        f"{API}/payments:batch",
        json={"items": [items[0], {**items[2], "amount": "1.00"}]},
        headers=finance(commission),
    )
    assert [i["status"] for i in again.json()["items"]] == ["exists", "refused"]
    assert again.json()["items"][1]["problem"]["status"] == 409

    # and the commission comes as for single payments
    async def lines():
        async with commission.runtime.sessions() as s:
            rows = await s.execute(
                select(CommissionLine.payment_id).where(CommissionLine.salesperson_id == rep)
            )
            return sorted(rows.scalars())

    await eventually(lambda: _eq(lines, [f"P-{rep}-0", f"P-{rep}-2", f"P-{rep}-5"]))


async def about(svc, *ids: str) -> int:
    async with svc.runtime.sessions() as s:
        return len(await outbox_rows_about(s, event_tables.outbox, *ids))


async def _eq(fetch, expected) -> bool:
    return await fetch() == expected


async def test_refunds_and_cancellations_batches(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    await commission.client.post(
        f"{API}/deals:batch",
        json={"items": [deal_body(rep, 0), deal_body(rep, 1)]},
        headers=finance(commission),
    )
    await commission.client.post(
        f"{API}/payments:batch",
        json={"items": [payment_body(rep, 0, "3000.00")]},
        headers=finance(commission),
    )
    refund = {
        "refund_id": f"R-{rep}-0",
        "deal_id": f"D-{rep}-0",
        "amount": "1000.00",
        "currency": "CNY",
        "refunded_at": "2026-11-12T10:00:00+08:00",
        "reason": "退货",
    }
    too_much = {**refund, "refund_id": f"R-{rep}-1", "amount": "2500.00"}
    r = await commission.client.post(
        f"{API}/refunds:batch", json={"items": [refund, too_much]}, headers=finance(commission)
    )
    assert [i["status"] for i in r.json()["items"]] == ["created", "refused"], r.text
    assert r.json()["items"][1]["problem"]["errors"][0]["field"] == "amount"
    cancel = {"deal_id": f"D-{rep}-1", "cancelled_at": "2026-11-13T10:00:00+08:00"}
    unknown = {"deal_id": f"D-{rep}-9", "cancelled_at": "2026-11-13T10:00:00+08:00"}
    r = await commission.client.post(
        f"{API}/cancellations:batch",
        json={"items": [cancel, unknown, cancel]},
        headers=finance(commission),
    )
    assert [i["status"] for i in r.json()["items"]] == ["created", "refused", "exists"], r.text
    assert r.json()["items"][1]["problem"]["status"] == 404
    async with commission.runtime.sessions() as s:
        refunds = await s.execute(select(Refund.refund_id).where(Refund.salesperson_id == rep))
        assert list(refunds.scalars()) == [f"R-{rep}-0"]
        assert (await s.get(Deal, f"D-{rep}-1")).status == "cancelled"


async def test_batch_envelope_limits_and_roles(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    too_many = [payment_body(rep, i, "1.00") for i in range(BATCH_MAX + 1)]
    r = await commission.client.post(
        f"{API}/payments:batch", json={"items": too_many}, headers=finance(commission)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("body.items")
    r = await commission.client.post(
        f"{API}/payments:batch", json={"items": []}, headers=finance(commission)
    )
    assert r.status_code == 422
    r = await commission.client.post(
        f"{API}/payments:batch",
        json={"items": [payment_body(rep, 0, "1.00")]},
        headers=commission.auth(rep, ["salesperson"]),
    )
    assert r.status_code == 403


async def test_read_sessions_refuse_writes(commission) -> None:
    factory = commission.runtime.read_sessions
    assert factory is not None
    async with factory() as s:
        s.add(Deal(deal_id=f"D-{uuid.uuid4().hex[:6]}"))
        with pytest.raises(ReadOnlyViolation):
            await s.flush()
    async with factory() as s:
        from sqlalchemy import delete

        with pytest.raises(ReadOnlyViolation):
            await s.execute(delete(Deal).where(Deal.deal_id == "nothing"))
