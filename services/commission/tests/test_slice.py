"""The commission service in-process on the real broker: sales facts in, commission out."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from zhanli_commission.commissions.models import CommissionLine
from zhanli_commission.sales.models import Deal, Payment
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about, settled

SH = dt.timezone(dt.timedelta(hours=8))


async def hire(svc, employee_id: str, team: str = "T1") -> None:
    await svc.publish(
        EmployeeUpserted(
            employee_id=employee_id,
            name="王小明",
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


def finance(svc):
    return svc.auth("fin", ["finance"])


async def test_payment_becomes_commission_and_event(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "上海远航物流有限公司",
        "amount": "100000.00",
        "currency": "CNY",
        "closed_at": "2026-11-02T10:00:00+08:00",
    }
    r = await commission.client.post(
        "/api/v1/commission/deals", json=deal, headers=finance(commission)
    )
    assert r.status_code == 201, r.text
    for i, amount in enumerate(["30000.00", "20000.50"]):
        r = await commission.client.post(
            "/api/v1/commission/payments",
            headers=finance(commission),
            json={
                "payment_id": f"P-{rep}-{i}",
                "deal_id": deal["deal_id"],
                "amount": amount,
                "currency": "CNY",
                "paid_at": f"2026-11-1{i}T10:00:00+08:00",
            },
        )
        assert r.status_code == 201, r.text

    async def statement():
        r = await commission.client.get(
            f"/api/v1/commission/people/{rep}/statement?period=2026-11",
            headers=commission.auth(rep, ["salesperson"]),
        )
        body = r.json()
        return body if len(body["lines"]) == 2 else None

    body = await eventually(statement)
    assert Decimal(body["total"]) == Decimal("1500.02")  # 900.00 + 600.015 -> 600.02
    assert [Decimal(line["amount"]) for line in body["lines"]] == [
        Decimal("900.00"),
        Decimal("600.02"),
    ]
    assert Decimal(body["basis_total"]) == Decimal("50000.50")


async def test_business_period_is_the_company_month(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    h = finance(commission)
    await commission.client.post(
        "/api/v1/commission/deals",
        headers=h,
        json={
            "deal_id": f"D-{rep}",
            "salesperson_id": rep,
            "customer_name": "Pacific Freight",
            "amount": "1000.00",
            "closed_at": "2026-11-30T10:00:00+08:00",
        },
    )
    # 16:30 UTC on 30 November is 00:30 on 1 December in Shanghai.
    r = await commission.client.post(
        "/api/v1/commission/payments",
        headers=h,
        json={
            "payment_id": f"P-{rep}",
            "deal_id": f"D-{rep}",
            "amount": "1000.00",
            "paid_at": "2026-11-30T16:30:00Z",
        },
    )
    assert r.status_code == 201

    async def december():
        r = await commission.client.get(
            f"/api/v1/commission/people/{rep}/statement?period=2026-12", headers=h
        )
        return r.json()["lines"]

    assert len(await eventually(december)) == 1
    nov = await commission.client.get(
        f"/api/v1/commission/people/{rep}/statement?period=2026-11", headers=h
    )
    assert nov.json()["lines"] == []


async def test_bad_input_is_a_problem_and_writes_nothing(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    h = finance(commission)
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "深圳海捷供应链",
        "amount": "5000.00",
        "closed_at": "2026-11-02T10:00:00+08:00",
    }
    assert (
        await commission.client.post("/api/v1/commission/deals", json=deal, headers=h)
    ).status_code == 201
    pay = {
        "payment_id": f"P-{rep}",
        "deal_id": deal["deal_id"],
        "amount": "1000.00",
        "paid_at": "2026-11-05T10:00:00+08:00",
    }
    assert (
        await commission.client.post("/api/v1/commission/payments", json=pay, headers=h)
    ).status_code == 201

    new_payment, new_deal = f"P-{rep}-new", f"D-{rep}-x"

    async def counts():  # this test's rows only: the consumer may write others' meanwhile
        async with commission.runtime.sessions() as s:
            payments = (
                await s.execute(
                    select(Payment.payment_id).where(
                        Payment.salesperson_id == rep,
                    )
                )
            ).all()
            deals = (
                await s.execute(select(Deal.deal_id).where(Deal.deal_id.in_([new_deal, "D-none"])))
            ).all()
            events = await outbox_rows_about(s, commission.runtime.tables.outbox, rep, "D-none")
        return payments, deals, events

    async def priced():  # the valid payment's own commission event is written first
        r = await commission.client.get(
            f"/api/v1/commission/people/{rep}/statement?period=2026-11", headers=h
        )
        return len(r.json()["lines"]) == 1

    await eventually(priced)
    await settled(commission, rep)
    before = await counts()
    cases = [
        ("/payments", b'{"payment_id": "x", ', 400, None),
        ("/payments", {**pay, "payment_id": new_payment, "tip": 1}, 422, "body.tip"),
        ("/payments", {**pay, "payment_id": new_payment, "amount": "lots"}, 422, "body.amount"),
        ("/payments", {**pay, "payment_id": new_payment, "amount": "-5.00"}, 422, "body.amount"),
        ("/payments", {**pay, "payment_id": new_payment, "amount": "0.001"}, 422, "body.amount"),
        ("/payments", {**pay, "payment_id": new_payment, "amount": "4000.01"}, 422, "amount"),
        ("/payments", {**pay, "payment_id": new_payment, "currency": "USD"}, 422, "currency"),
        ("/payments", {**pay, "payment_id": new_payment, "deal_id": "D-none"}, 422, "deal_id"),
        (
            "/payments",
            {**pay, "payment_id": new_payment, "paid_at": "2026-11-05T10:00:00"},
            422,
            "body.paid_at",
        ),
        ("/payments", pay, 409, "payment_id"),
        (
            "/deals",
            {**deal, "deal_id": new_deal, "salesperson_id": "nobody"},
            422,
            "salesperson_id",
        ),
        ("/deals", {**deal, "deal_id": new_deal, "amount": "99999999999.00"}, 422, "amount"),
        ("/deals", deal, 409, "deal_id"),
    ]
    for path, body, status, field in cases:
        kwargs = (
            {"content": body, "headers": {**h, "content-type": "application/json"}}
            if isinstance(body, bytes)
            else {"json": body, "headers": h}
        )
        r = await commission.client.post("/api/v1/commission" + path, **kwargs)
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["status"] == status
        if field:
            assert field in [e["field"] for e in problem["errors"]], problem
    assert await counts() == before


async def test_a_departed_persons_unexpired_token_stops_working(commission) -> None:
    """The directory says the person has left: their token (valid for another hour) is
    refused (401) as soon as the change reaches this service; back in the directory, it
    works again. Others are untouched."""
    from zhanli_shared.events.contracts.directory import EmploymentStatus

    rep, colleague = f"E{uuid.uuid4().hex[:6]}", f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    await hire(commission, colleague)
    mine = commission.auth(rep, ["salesperson"])
    url = f"/api/v1/commission/people/{rep}/statement"
    assert (await commission.client.get(url, headers=mine)).status_code == 200

    async def upsert(status: EmploymentStatus) -> None:
        await commission.publish(
            EmployeeUpserted(
                employee_id=rep,
                name="王小明",
                org_unit_id="T1",
                org_path=["G1", "B1", "T1"],
                manager_id="M1",
                job_role="salesperson",
                roles=["salesperson"],
                status=status,
            )
        )

    async def answered(status: int) -> bool:
        return (await commission.client.get(url, headers=mine)).status_code == status

    await upsert(EmploymentStatus.LEFT)
    await eventually(lambda: answered(401))
    refused = await commission.client.get(url, headers=mine)
    assert refused.json()["detail"] == "This account is no longer active."
    other = f"/api/v1/commission/people/{colleague}/statement"
    ok = await commission.client.get(other, headers=commission.auth(colleague, ["salesperson"]))
    assert ok.status_code == 200
    # Their figures stay readable by finance (only the person's own access ends).
    assert (await commission.client.get(url, headers=finance(commission))).status_code == 200
    await upsert(EmploymentStatus.ACTIVE)  # rehired
    await eventually(lambda: answered(200))


async def test_authentication_and_data_scope(commission) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep, team="T1")
    url = f"/api/v1/commission/people/{rep}/statement"
    assert (await commission.client.get(url)).status_code == 401
    assert (
        await commission.client.get(url, headers={"authorization": "Bearer x.y.z"})
    ).status_code == 401
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
        commission.auth("I", ["it_ops"]),
    ]
    for headers in ok:
        assert (await commission.client.get(url, headers=headers)).status_code == 200
    # Out of scope is answered like an unknown person (404, same body): no id enumeration.
    from zhanli_shared.testing.scope import assert_answered_alike

    nobody = f"E-nobody-{uuid.uuid4().hex[:6]}"
    for headers in refused:
        hidden = await commission.client.get(url, headers=headers)
        unknown = await commission.client.get(url.replace(rep, nobody), headers=headers)
        assert_answered_alike(hidden, rep, unknown, nobody)
    deal = {
        "deal_id": f"D-{rep}",
        "salesperson_id": rep,
        "customer_name": "c",
        "amount": "10.00",
        "closed_at": "2026-11-02T10:00:00+08:00",
    }
    r = await commission.client.post(
        "/api/v1/commission/deals", json=deal, headers=commission.auth(rep, ["salesperson"])
    )
    assert r.status_code == 403


async def test_same_payment_event_twice_changes_nothing(commission, broker) -> None:
    from aiokafka import AIOKafkaProducer

    from zhanli_commission.commissions.models import ParkedFact
    from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
    from zhanli_shared.events.outbox import Publisher

    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    event = PaymentReceived(
        payment_id=f"P-{rep}",
        deal_id=f"D-{rep}",
        salesperson_id=rep,
        amount=Decimal("200.00"),
        currency="CNY",
        paid_at=dt.datetime(2026, 11, 3, 10, tzinfo=SH),
        source="crm",
    )
    envelope = Publisher(commission.runtime.tables, "zhanli/test").envelope(event)
    other = Publisher(commission.runtime.tables, "zhanli/test").envelope(
        event
    )  # new id, same payment
    # Pushed straight onto the bus by another system, the payment before its deal: parked,
    # then applied once when the deal arrives.
    deal = DealRecorded(
        deal_id=f"D-{rep}",
        salesperson_id=rep,
        customer_name="宁波海通货代",
        amount=Decimal("1000.00"),
        currency="CNY",
        closed_at=dt.datetime(2026, 11, 2, 10, tzinfo=SH),
        source="crm",
    )
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        for env in (envelope, envelope, other):
            await producer.send_and_wait(event.topic_name(), env.to_json(), key=rep.encode())

        async def parked():
            async with commission.runtime.sessions() as s:
                return (
                    await s.execute(
                        select(func.count())
                        .select_from(ParkedFact)
                        .where(ParkedFact.deal_id == f"D-{rep}")
                    )
                ).scalar_one() >= 1

        await eventually(parked)
        deal_env = Publisher(commission.runtime.tables, "zhanli/test").envelope(deal)
        await producer.send_and_wait(deal.topic_name(), deal_env.to_json(), key=rep.encode())
    finally:
        await producer.stop()

    async def lines():
        async with commission.runtime.sessions() as s:
            inbox = commission.runtime.tables.inbox
            seen = (
                await s.execute(
                    select(func.count())
                    .select_from(inbox)
                    .where(inbox.c.event_id.in_([envelope.id, other.id]))
                )
            ).scalar_one()
            n = (
                await s.execute(
                    select(func.count())
                    .select_from(CommissionLine)
                    .where(CommissionLine.salesperson_id == rep)
                )
            ).scalar_one()
        return (seen, n) if seen == 2 and n >= 1 else None

    assert await eventually(lines) == (2, 1)


async def test_service_basics(commission) -> None:
    from zhanli_shared.testing.services import check_service_basics

    await check_service_basics(commission)


async def test_payments_leave_an_audit_fact_with_money_before_and_after(commission) -> None:
    import json

    rep = f"E{uuid.uuid4().hex[:6]}"
    await hire(commission, rep)
    h = {**finance(commission), "x-request-id": f"rid-{rep}"}
    await commission.client.post(
        "/api/v1/commission/deals",
        headers=h,
        json={
            "deal_id": f"D-{rep}",
            "salesperson_id": rep,
            "customer_name": "东莞智造电子",
            "amount": "3000.00",
            "closed_at": "2026-11-02T10:00:00+08:00",
        },
    )
    r = await commission.client.post(
        "/api/v1/commission/payments",
        headers=h,
        json={
            "payment_id": f"P-{rep}",
            "deal_id": f"D-{rep}",
            "amount": "1200.00",
            "paid_at": "2026-11-03T10:00:00+08:00",
        },
    )
    assert r.status_code == 201
    outbox = commission.runtime.tables.outbox
    async with commission.runtime.sessions() as s:
        rows = (
            (
                await s.execute(
                    select(outbox.c.payload).where(
                        outbox.c.topic == "zhanli.audit.recorded.v1",
                        outbox.c.key == f"payment:P-{rep}",
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == 1
    fact = json.loads(rows[0])["data"]
    assert fact["actor_id"] == "fin" and fact["request_id"] == f"rid-{rep}"
    assert fact["before"]["deal_collected"] == "0.00"
    assert fact["after"]["deal_collected"] == "1200.00" and fact["after"]["amount"] == "1200.00"
    assert fact["after"]["deal_outstanding"] == "1800.00"
