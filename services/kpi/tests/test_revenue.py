"""Collected revenue follows the sales events; uncollected revenue never counts as collected."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

import zhanli_kpi
from zhanli_kpi.main import create_app
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import RunningService, running_service, service_settings

SH = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
async def kpi(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("kpi"), "kpi")
    settings = service_settings(KpiSettings, target, broker, keypair[1])
    async with running_service(
        create_app, settings, Path(zhanli_kpi.__file__).parent / "migrations", issuer
    ) as svc:
        yield svc
    await target.cleanup()


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
    assert other.status_code == 403
    bad = await kpi.client.get(f"/api/v1/kpi/people/{rep}/revenue?period=2026-13", headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.period"


async def test_service_basics(kpi) -> None:
    from zhanli_shared.testing.services import check_service_basics

    await check_service_basics(kpi)
