"""One record of each fact, whichever door it came in by: the same deals, payments, refunds
and cancellations posted through the API and pushed onto the bus by a CRM connector give
the same statement and the same deal figures; the same checks refuse the same bad facts
(through the API a 422, from the bus the dead-letter topic with the reason)."""

from __future__ import annotations

import json
from decimal import Decimal as D

from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from zhanli_commission.sales.models import Payment
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
)
from zhanli_shared.events.kafka import dead_letter_topic
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about

from .test_plans import PERIOD, fin, uid
from .test_slice import hire


def at(day: int, hour: int = 10) -> str:
    return f"{PERIOD}-{day:02d}T{hour:02d}:00:00+08:00"


async def crm(svc, *events) -> None:
    """Push events onto the bus as a CRM connector would (not through this service's API)."""
    runtime = svc.runtime
    async with runtime.sessions() as session:
        await Publisher(runtime.tables, "crm/connector").publish_many(session, list(events))
        await session.commit()
    runtime.wake_relay()


async def read_deal(svc, deal_id: str) -> dict | None:
    r = await svc.client.get(f"/api/v1/commission/deals/{deal_id}", headers=fin(svc))
    return r.json() if r.status_code == 200 else None


async def deal_reaches(svc, deal_id: str, **figures: str) -> dict:
    async def ready():
        deal = await read_deal(svc, deal_id)
        if deal is None:
            return None
        return deal if all(D(str(deal[k])) == D(v) for k, v in figures.items()) else None

    return await eventually(ready, timeout_s=30)


async def lines_of(svc, rep: str, n: int) -> dict:
    url = f"/api/v1/commission/people/{rep}/statement?period={PERIOD}"

    async def ready():
        body = (await svc.client.get(url, headers=fin(svc))).json()
        return body if len(body["lines"]) >= n else None

    return await eventually(ready, timeout_s=30)


def shape(statement: dict, prefix: str) -> list[tuple]:
    """The statement with the door's id prefix taken out, so two doors compare."""
    return sorted(
        (
            line["kind"],
            (line.get("payment_id") or "").replace(prefix, ""),
            line["deal_id"].replace(prefix, ""),
            line["amount"],
        )
        for line in statement["lines"]
    )


async def dead_letters(svc, broker, wanted: str) -> list:
    """Records of the service's dead-letter topic whose event names ``wanted``."""
    consumer = AIOKafkaConsumer(
        dead_letter_topic(svc.settings.consumer_group),
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found = []
        batches = await consumer.getmany(timeout_ms=2000)
        for records in batches.values():
            found += [r for r in records if wanted in r.value.decode()]
        return found
    finally:
        await consumer.stop()


async def test_the_same_facts_through_both_doors_give_the_same_statement(
    commission, broker
) -> None:
    api_rep, bus_rep = uid("E"), uid("E")
    for rep in (api_rep, bus_rep):
        await hire(commission, rep)
    a, b = uid("A"), uid("B")  # each door's id prefix

    # The API door.
    client, h = commission.client, fin(commission)
    for deal_id, amount in ((f"{a}D1", "10000.00"), (f"{a}D2", "5000.00")):
        r = await client.post(
            "/api/v1/commission/deals",
            headers=h,
            json={
                "deal_id": deal_id,
                "salesperson_id": api_rep,
                "customer_name": "宁波海运 Ningbo Shipping",
                "amount": amount,
                "closed_at": at(1, 9),
            },
        )
        assert r.status_code == 201, r.text
    for pid, deal_id, amount, day in (
        ("P1", "D1", "4000.00", 3),
        ("P2", "D1", "6000.00", 5),
        ("P3", "D2", "2000.00", 4),
    ):
        r = await client.post(
            "/api/v1/commission/payments",
            headers=h,
            json={
                "payment_id": f"{a}{pid}",
                "deal_id": f"{a}{deal_id}",
                "amount": amount,
                "paid_at": at(day),
            },
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/commission/refunds",
        headers=h,
        json={
            "refund_id": f"{a}R1",
            "deal_id": f"{a}D1",
            "amount": "1000.00",
            "refunded_at": at(8),
        },
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/commission/deals/{a}D2/cancel", headers=h, json={"cancelled_at": at(9)}
    )
    assert r.status_code == 200, r.text
    # the same money again under a new id: the deal is paid in full
    r = await client.post(
        "/api/v1/commission/payments",
        headers=h,
        json={"payment_id": f"{a}P9", "deal_id": f"{a}D1", "amount": "100.00", "paid_at": at(9)},
    )
    assert r.status_code == 422 and "still owed" in r.text

    # The bus door: the same facts, each step once the one before it was taken.
    def deal(n: str, amount: str) -> DealRecorded:
        return DealRecorded(
            deal_id=f"{b}{n}",
            salesperson_id=bus_rep,
            customer_name="宁波海运 Ningbo Shipping",
            amount=D(amount),
            currency="CNY",
            closed_at=at(1, 9),
            source="crm",
        )

    def payment(n: str, deal_n: str, amount: str, day: int) -> PaymentReceived:
        return PaymentReceived(
            payment_id=f"{b}{n}",
            deal_id=f"{b}{deal_n}",
            salesperson_id=bus_rep,
            amount=D(amount),
            currency="CNY",
            paid_at=at(day),
            source="crm",
        )

    await crm(commission, deal("D1", "10000.00"), deal("D2", "5000.00"))
    await deal_reaches(commission, f"{b}D2", collected="0")
    await crm(
        commission,
        payment("P1", "D1", "4000.00", 3),
        payment("P2", "D1", "6000.00", 5),
        payment("P3", "D2", "2000.00", 4),
    )
    await deal_reaches(commission, f"{b}D1", collected="10000.00")
    await deal_reaches(commission, f"{b}D2", collected="2000.00")
    await crm(
        commission,
        RefundIssued(
            refund_id=f"{b}R1",
            deal_id=f"{b}D1",
            salesperson_id=bus_rep,
            amount=D("1000.00"),
            currency="CNY",
            refunded_at=at(8),
            source="crm",
        ),
        DealCancelled(
            deal_id=f"{b}D2",
            salesperson_id=bus_rep,
            cancelled_at=at(9),
            unpaid_amount=D("3000.00"),
            source="crm",
        ),
    )
    await deal_reaches(commission, f"{b}D1", refunded="1000.00")
    # the same money again under a new id: refused, dead-lettered with the reason
    await crm(commission, payment("P9", "D1", "100.00", 9))

    async def refused():
        found = await dead_letters(commission, broker, f"{b}P9")
        return found or None

    [dead] = await eventually(refused, timeout_s=30)
    error = dict(dead.headers)["zhanli-dlq-error"].decode()
    assert "exceeds what is still owed" in error, error
    assert json.loads(dead.value)["data"]["payment_id"] == f"{b}P9"

    # Both doors: the same deals, the same statement.
    for n in ("D1", "D2"):
        via_api, via_bus = (
            await read_deal(commission, f"{a}{n}"),
            await read_deal(commission, f"{b}{n}"),
        )
        assert via_api is not None and via_bus is not None
        for k in ("amount", "collected", "refunded", "status"):
            assert via_api[k] == via_bus[k], (n, k, via_api[k], via_bus[k])
    api_st = await lines_of(commission, api_rep, 4)
    bus_st = await lines_of(commission, bus_rep, 4)
    assert shape(api_st, a) == shape(bus_st, b)
    # 3 % of the 11,000 kept (12,000 collected, 1,000 refunded; collected basis: the
    # cancelled unpaid part never counted)
    assert api_st["total"] == bus_st["total"] == "330.00"
    async with commission.runtime.sessions() as session:  # one payment record each
        for prefix in (a, b):
            for n in ("P1", "P2", "P3"):
                assert await session.get(Payment, f"{prefix}{n}") is not None
            assert await session.get(Payment, f"{prefix}P9") is None
        # the bus door is audited too: the money each fact moved, with the source as actor
        outbox = commission.runtime.tables.outbox
        for n in ("P1", "P2", "P3", "R1"):
            rows = await outbox_rows_about(
                session, outbox, f"{b}{n}", topic=AuditRecorded.topic_name()
            )
            payloads = [
                (
                    await session.execute(
                        select(outbox.c.payload).where(outbox.c.event_id == event_id)
                    )
                ).scalar_one()
                for event_id, _ in rows
            ]
            assert any('"actor_id":"crm/connector"' in p.replace(" ", "") for p in payloads), n


async def test_a_bus_payment_is_recorded_so_the_api_refunds_it_and_refuses_it_twice(
    commission,
) -> None:
    """The issue's run: a payment pushed by a CRM connector keeps its record and the
    deal's collected money; a refund through the API is accepted, and the same money
    posted again through the API under a new id is refused."""
    rep = uid("E")
    await hire(commission, rep)
    deal_id = uid("D")
    client, h = commission.client, fin(commission)
    r = await client.post(
        "/api/v1/commission/deals",
        headers=h,
        json={
            "deal_id": deal_id,
            "salesperson_id": rep,
            "customer_name": "厦门远航 Xiamen Voyage",
            "amount": "8000.00",
            "closed_at": at(1, 9),
        },
    )
    assert r.status_code == 201, r.text
    await crm(
        commission,
        PaymentReceived(
            payment_id=uid("P"),
            deal_id=deal_id,
            salesperson_id=rep,
            amount=D("8000.00"),
            currency="CNY",
            paid_at=at(2),
            source="crm",
        ),
    )
    await deal_reaches(commission, deal_id, collected="8000.00")
    st = await lines_of(commission, rep, 1)
    assert st["total"] == "240.00"

    r = await client.post(
        "/api/v1/commission/payments",
        headers=h,
        json={"payment_id": uid("P"), "deal_id": deal_id, "amount": "8000.00", "paid_at": at(3)},
    )
    assert r.status_code == 422 and "still owed" in r.text, r.text
    r = await client.post(
        "/api/v1/commission/refunds",
        headers=h,
        json={
            "refund_id": uid("R"),
            "deal_id": deal_id,
            "amount": "2000.00",
            "refunded_at": at(4),
        },
    )
    assert r.status_code == 201, r.text
    st = await lines_of(commission, rep, 2)
    assert st["total"] == "180.00"
    assert (await read_deal(commission, deal_id))["refunded"] == "2000.00"


async def test_facts_of_a_person_the_directory_does_not_know_yet_are_priced_on_arrival(
    commission,
) -> None:
    """A CRM deal and payment for someone the directory has not sent yet are recorded and
    credited; when the person arrives they are priced (no commission silently missing),
    and a manager who arrives after their team gets the override on what it had earned."""
    from .test_plans import hire_as

    rep, manager, role = uid("E"), uid("M"), uid("lead")
    # the manager's plan, assigned to a job role nobody else has
    plan_id = uid("PL")
    r = await commission.client.post(
        "/api/v1/commission/plans",
        headers=fin(commission),
        json={
            "plan_id": plan_id,
            "name": "team leads",
            "version": {
                "effective_from": "2026-01",
                "rules": {"tier_mode": "flat", "rate": "0.03", "manager_override": {"rate": "0.1"}},
            },
        },
    )
    assert r.status_code == 201, r.text
    r = await commission.client.post(
        "/api/v1/commission/plan-assignments",
        headers=fin(commission),
        json={
            "plan_id": plan_id,
            "target_type": "role",
            "target_id": role,
            "effective_from": "2026-01",
        },
    )
    assert r.status_code == 201, r.text

    deal_id = uid("D")
    await crm(
        commission,
        DealRecorded(
            deal_id=deal_id,
            salesperson_id=rep,
            customer_name="青岛港航 Qingdao Port",
            amount=D("20000.00"),
            currency="CNY",
            closed_at=at(1, 9),
            source="crm",
        ),
    )
    await deal_reaches(commission, deal_id, collected="0")
    await crm(
        commission,
        PaymentReceived(
            payment_id=uid("P"),
            deal_id=deal_id,
            salesperson_id=rep,
            amount=D("15000.00"),
            currency="CNY",
            paid_at=at(6),
            source="crm",
        ),
    )
    await deal_reaches(commission, deal_id, collected="15000.00")

    await hire_as(commission, rep, manager_id=manager)  # the rep arrives
    st = await lines_of(commission, rep, 1)
    assert st["total"] == "450.00"  # 3 % of 15,000
    assert [line["kind"] for line in st["lines"]] == ["earning"]

    await hire_as(commission, manager, manager_id=None, job_role=role)  # then the manager
    url = f"/api/v1/commission/people/{manager}/statement?period={PERIOD}"

    async def override():
        body = (await commission.client.get(url, headers=fin(commission))).json()
        return body if body["lines"] else None

    st = await eventually(override, timeout_s=30)
    assert [(line["kind"], line["amount"]) for line in st["lines"]] == [("override", "45.00")]
