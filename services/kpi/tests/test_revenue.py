"""Collected revenue follows the sales events; uncollected revenue never counts as collected."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
    SplitShare,
)
from zhanli_shared.testing.plugin import eventually

SH = dt.timezone(dt.timedelta(hours=8))


async def test_revenue_position_from_deals_and_payments(kpi) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await kpi.publish(
        EmployeeUpserted(
            employee_id=rep,
            name="李娜",
            org_unit_id="T1",
            org_path=["G1", "T1"],
            job_role="salesperson",
        )
    )
    closed = dt.datetime(2026, 11, 2, 10, tzinfo=SH)
    for i, amount in enumerate(["100000.00", "50000.00"]):
        await kpi.publish(
            DealRecorded(
                deal_id=f"D{i}-{rep}",
                salesperson_id=rep,
                customer_name="宁波港通国际货代",
                amount=Decimal(amount),
                currency="CNY",
                closed_at=closed,
            )
        )
    await kpi.publish(
        PaymentReceived(
            payment_id=f"P-{rep}",
            deal_id=f"D0-{rep}",
            salesperson_id=rep,
            amount=Decimal("30000.00"),
            currency="CNY",
            paid_at=dt.datetime(2026, 11, 20, 9, tzinfo=SH),
        )
    )
    headers = kpi.auth(rep, ["salesperson"])

    async def position():
        r = await kpi.client.get(
            f"/api/v1/kpi/people/{rep}/revenue?period=2026-11", headers=headers
        )
        body = r.json() if r.status_code == 200 else {}
        return body if body.get("payments") == 1 and body.get("deals") == 2 else None

    body = await eventually(position)
    assert all(c.dead_lettered_total == 0 for c in kpi.runtime.consumers)
    assert Decimal(body["booked"]) == Decimal("150000.00")
    assert Decimal(body["collected"]) == Decimal("30000.00")
    assert Decimal(body["collected_share"]) == Decimal("0.2000")
    assert body["deals"] == 2
    other = await kpi.client.get(
        f"/api/v1/kpi/people/{rep}/revenue?period=2026-11",
        headers=kpi.auth("someone-else", ["salesperson"]),
    )
    assert other.status_code == 404  # out of scope is answered like unknown: no enumeration
    assert other.json()["detail"] == f"Unknown person {rep!r}."
    bad = await kpi.client.get(f"/api/v1/kpi/people/{rep}/revenue?period=2026-13", headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.period"


async def _person(kpi, rep: str) -> None:
    await kpi.publish(
        EmployeeUpserted(
            employee_id=rep,
            name="王伟",
            org_unit_id="T1",
            org_path=["G1", "T1"],
            job_role="salesperson",
        )
    )


async def _revenue(kpi, rep: str, period: str, ready) -> dict:
    headers = kpi.auth(rep, ["salesperson"])

    async def read():
        r = await kpi.client.get(
            f"/api/v1/kpi/people/{rep}/revenue?period={period}", headers=headers
        )
        body = r.json() if r.status_code == 200 else {}
        return body if body and ready(body) else None

    return await eventually(read)


async def test_refunds_and_cancellations_reduce_and_currencies_never_mix(kpi) -> None:
    rep = f"E{uuid.uuid4().hex[:6]}"
    await _person(kpi, rep)
    nov = dt.datetime(2026, 11, 3, 10, tzinfo=SH)
    dec = dt.datetime(2026, 12, 2, 10, tzinfo=SH)

    def deal(n: str, amount: str, currency: str = "CNY") -> DealRecorded:
        return DealRecorded(
            deal_id=f"{n}-{rep}",
            salesperson_id=rep,
            customer_name="上海远航物流",
            amount=Decimal(amount),
            currency=currency,
            closed_at=nov,
        )

    def pay(n: str, deal_n: str, amount: str, currency: str = "CNY") -> PaymentReceived:
        return PaymentReceived(
            payment_id=f"{n}-{rep}",
            deal_id=f"{deal_n}-{rep}",
            salesperson_id=rep,
            amount=Decimal(amount),
            currency=currency,
            paid_at=nov,
        )

    # a cancellation that arrives before its deal waits for it (its currency is the deal's)
    await kpi.publish(
        DealCancelled(
            deal_id=f"D3-{rep}", salesperson_id=rep, cancelled_at=nov, unpaid_amount=Decimal("500")
        )
    )
    for event in (
        deal("D1", "100000.00"),
        deal("D2", "8000.00", "USD"),
        deal("D3", "2000.00", "USD"),
        pay("P1", "D1", "60000.00"),
        pay("P2", "D2", "3000.00", "USD"),
        pay("P1", "D1", "60000.00"),  # the same payment sent again under a new event id
    ):
        await kpi.publish(event)
    await kpi.publish(
        RefundIssued(
            refund_id=f"R1-{rep}",
            deal_id=f"D1-{rep}",
            salesperson_id=rep,
            amount=Decimal("10000.00"),
            currency="CNY",
            refunded_at=nov,
        )
    )
    await kpi.publish(
        DealCancelled(
            deal_id=f"D1-{rep}",
            salesperson_id=rep,
            cancelled_at=dec,
            unpaid_amount=Decimal("40000.00"),
        )
    )
    body = await _revenue(
        kpi,
        rep,
        "2026-11",
        lambda b: (
            b["refunds"] == 1
            and b["payments"] == 1
            and b["deals"] == 1
            and b["other_currencies"]
            and b["other_currencies"][0]["cancellations"] == 1
            and b["other_currencies"][0]["payments"] == 1
            and b["other_currencies"][0]["deals"] == 2
        ),
    )
    assert body["currency"] == "CNY"
    assert Decimal(body["booked"]) == Decimal("100000.00")
    assert Decimal(body["collected"]) == Decimal("50000.00")  # 60,000 paid once, 10,000 back
    assert Decimal(body["refunded"]) == Decimal("10000.00")
    assert body["payments"] == 1
    (usd,) = body["other_currencies"]
    assert usd["currency"] == "USD"
    assert Decimal(usd["booked"]) == Decimal("9500.00")  # 8,000 + 2,000 - 500 never paid
    assert Decimal(usd["collected"]) == Decimal("3000.00")
    # the cancellation in December reduces December, never the closed-over November
    december = await _revenue(kpi, rep, "2026-12", lambda b: b["cancellations"] == 1)
    assert Decimal(december["booked"]) == Decimal("-40000.00")
    assert Decimal(december["cancelled"]) == Decimal("40000.00")
    assert Decimal(december["collected"]) == Decimal("0.00")


async def test_split_deal_credits_each_person_by_share(kpi) -> None:
    a, b = f"E{uuid.uuid4().hex[:6]}", f"E{uuid.uuid4().hex[:6]}"
    await _person(kpi, a)
    await _person(kpi, b)
    at = dt.datetime(2026, 10, 9, 10, tzinfo=SH)
    await kpi.publish(
        DealRecorded(
            deal_id=f"S-{a}",
            salesperson_id=a,
            customer_name="杭州鑫达贸易",
            amount=Decimal("1000.01"),
            currency="CNY",
            closed_at=at,
            splits=[
                SplitShare(salesperson_id=a, share=Decimal("70")),
                SplitShare(salesperson_id=b, share=Decimal("30")),
            ],
        )
    )
    await kpi.publish(
        PaymentReceived(
            payment_id=f"SP-{a}",
            deal_id=f"S-{a}",
            salesperson_id=a,
            amount=Decimal("100.00"),
            currency="CNY",
            paid_at=at,
        )
    )
    mine = await _revenue(kpi, a, "2026-10", lambda x: x["payments"] == 1)
    theirs = await _revenue(kpi, b, "2026-10", lambda x: x["payments"] == 1)
    assert Decimal(mine["booked"]) + Decimal(theirs["booked"]) == Decimal("1000.01")
    assert Decimal(theirs["booked"]) == Decimal("300.00")
    assert Decimal(mine["collected"]) == Decimal("70.00")
    assert Decimal(theirs["collected"]) == Decimal("30.00")


async def test_service_basics(kpi) -> None:
    from zhanli_shared.testing.services import check_service_basics

    await check_service_basics(kpi)
