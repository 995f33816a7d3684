"""Indicator library, plans, facts and live boards through the API: the seeded library and
plans, bad input refused whole (naming the field), facts idempotent with per-item results,
the board and the score event current when the fact's request returns."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from zhanli_kpi.indicators.seed import INDICATORS, PLANS
from zhanli_shared.events.contracts.directory import EmployeeUpserted, EmploymentStatus
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about

SH = dt.timezone(dt.timedelta(hours=8))
ADMIN = ["hr_admin"]


def admin(kpi) -> dict[str, str]:
    return kpi.auth("hr-admin-1", ADMIN)


def crm(kpi) -> dict[str, str]:
    return kpi.auth("crm", ["integration"])


async def hire(
    kpi,
    *,
    unit: str = "T1",
    path: list[str] | None = None,
    role: str = "salesperson",
    status: EmploymentStatus = EmploymentStatus.ACTIVE,
) -> str:
    eid = f"E{uuid.uuid4().hex[:8]}"
    await kpi.publish(
        EmployeeUpserted(
            employee_id=eid,
            name="张伟",
            org_unit_id=unit,
            org_path=path or ["G1", unit],
            job_role=role,
            status=status,
        )
    )

    async def known():
        r = await kpi.client.get(f"/api/v1/kpi/people/{eid}/board", headers=admin(kpi))
        return r.status_code == 200 or None

    await eventually(known)
    return eid


async def own_plan(kpi, eid: str, lines: list[dict[str, Any]], period: str = "2026-11") -> str:
    plan_id = f"p-{uuid.uuid4().hex[:10]}"
    r = await kpi.client.put(
        f"/api/v1/kpi/plans/{plan_id}",
        json={"name_zh": "测试方案", "name_en": "Test plan", "level": "test", "lines": lines},
        headers=admin(kpi),
    )
    assert r.status_code == 201, r.text
    r = await kpi.client.post(
        "/api/v1/kpi/plan-assignments",
        json={
            "plan_id": plan_id,
            "target_type": "person",
            "target_id": eid,
            "effective_from": period,
        },
        headers=admin(kpi),
    )
    assert r.status_code == 201, r.text
    return plan_id


def fact(
    eid: str,
    indicator: str,
    value: float,
    *,
    day: int = 10,
    month: int = 11,
    source_id: str | None = None,
) -> dict[str, Any]:
    return {
        "source": "erp",
        "source_id": source_id or uuid.uuid4().hex,
        "employee_id": eid,
        "indicator": indicator,
        "value": value,
        "occurred_at": dt.datetime(2026, month, day, 10, tzinfo=SH).isoformat(),
    }


async def test_library_and_example_plans_are_seeded(kpi) -> None:
    r = await kpi.client.get("/api/v1/kpi/indicators", headers=kpi.auth("x", ["salesperson"]))
    assert r.status_code == 200
    codes = {i["code"]: i for i in r.json()}
    for needed in (
        "revenue",
        "collected_revenue",
        "repurchase_rate",
        "profit_per_shipment",
        "collection_cycle",
        "new_clients",
        "lead_conversion",
        "collaboration_rating",
        "peer_teamwork",
        "feedback_timeliness",
        "response_time",
        "customer_retention",
        "reimbursement_cycle",
        "sales_cost_ratio",
        "cash_turnover",
        "sales_growth",
        "strategic_goal_completion",
        "team_collaboration_efficiency",
        "sales_support_satisfaction",
    ):
        assert needed in codes, needed
        assert codes[needed]["name_zh"] and codes[needed]["name_en"]
    assert codes["response_time"]["direction"] == "lower"
    assert len(codes) >= len(INDICATORS)
    r = await kpi.client.get("/api/v1/kpi/plans", headers=admin(kpi))
    plans = {p["plan_id"]: p for p in r.json()}
    gm = plans["general-manager"]
    assert [(line["indicator"], Decimal(line["weight"])) for line in gm["lines"]] == [
        ("sales_growth", 40),
        ("team_collaboration_efficiency", 30),
        ("strategic_goal_completion", 30),
    ]
    for seeded in PLANS:
        assert sum(Decimal(x["weight"]) for x in plans[seeded["plan_id"]]["lines"]) == 100
    r = await kpi.client.get("/api/v1/kpi/plans", headers=kpi.auth("x", ["salesperson"]))
    assert r.status_code == 403


async def test_general_manager_worked_example_live(kpi) -> None:
    """Revenue 130 % capped at 120 % (w50), DSO 50 vs 45 (w30, 0.90), retention 75 % under
    a floor of 80 % (w20, 0): 0.87, from a sales event and two ERP facts; the score event is
    in the outbox and a person cannot see another's board."""
    gm = await hire(kpi, unit="G1", path=["G1"], role="general_manager")
    await own_plan(
        kpi,
        gm,
        [
            {"indicator": "revenue", "weight": 50, "target": 100000, "curve": {"cap": 1.2}},
            {
                "indicator": "collection_cycle",
                "weight": 30,
                "target": 45,
                "curve": {"kind": "lower"},
            },
            {
                "indicator": "customer_retention",
                "weight": 20,
                "target": 100,
                "curve": {"floor": 0.8},
            },
        ],
    )
    await kpi.publish(
        DealRecorded(
            deal_id=f"D-{gm}",
            salesperson_id=gm,
            customer_name="宁波港通国际货代",
            amount=Decimal("130000.00"),
            currency="CNY",
            closed_at=dt.datetime(2026, 11, 5, 10, tzinfo=SH),
        )
    )
    r = await kpi.client.post(
        "/api/v1/kpi/facts/bulk",
        json={"items": [fact(gm, "collection_cycle", 50), fact(gm, "customer_retention", 75)]},
        headers=crm(kpi),
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2

    async def board():
        r = await kpi.client.get(
            f"/api/v1/kpi/people/{gm}/board?period=2026-11", headers=kpi.auth(gm, ["executive"])
        )
        b = r.json()
        return b if b["lines"] and b["lines"][0]["value"] == 130000 else None

    b = await eventually(board)
    assert b["total"] == pytest.approx(0.87)
    by = {line["indicator"]: line for line in b["lines"]}
    assert by["revenue"]["score"] == 1.2 and by["revenue"]["completion"] == 1.3
    assert by["revenue"]["contribution"] == pytest.approx(0.6)
    assert by["collection_cycle"]["score"] == 0.9 and by["collection_cycle"]["gap"] == 5
    assert by["customer_retention"]["score"] == 0 and by["customer_retention"]["gap"] == 25
    assert by["revenue"]["name_zh"] == "销售额"

    async def published():
        async with kpi.runtime.sessions() as s:
            rows = await outbox_rows_about(
                s, kpi.runtime.tables.outbox, gm, topic=KpiScoreUpdated.topic_name()
            )
            if not rows:
                return None
            payloads = (
                await s.execute(
                    select(kpi.runtime.tables.outbox.c.payload).where(
                        kpi.runtime.tables.outbox.c.event_id == rows[-1][0]
                    )
                )
            ).scalar_one()
        data = json.loads(payloads)
        data = data.get("data", data)
        return data if Decimal(data["score"]) == Decimal("0.87") else None

    event = await eventually(published)
    assert event["period"] == "2026-11" and event["employee_id"] == gm
    other = await kpi.client.get(
        f"/api/v1/kpi/people/{gm}/board", headers=kpi.auth("E-other", ["salesperson"])
    )
    assert other.status_code == 404  # alike an unknown person


async def test_facts_are_idempotent_with_a_result_per_item(kpi) -> None:
    rep = await hire(kpi)
    await own_plan(
        kpi,
        rep,
        [
            {"indicator": "leads", "weight": 60, "target": 10},
            {"indicator": "response_time", "weight": 40, "target": 30, "curve": {"kind": "lower"}},
        ],
    )
    good = fact(rep, "leads", 4)
    items = [
        good,
        fact(rep, "response_time", 36),
        fact("nobody-" + rep, "leads", 1),
        fact(rep, "no_such_indicator", 1),
        fact(rep, "repurchase_rate", 0.5),  # computed, not fed
        fact(rep, "revenue", 1000),  # from the sales events
        fact(rep, "peer_teamwork", 4),  # from ratings
        {**fact(rep, "leads", 1), "source_id": good["source_id"]},  # a used id, another fact
    ]
    r = await kpi.client.post("/api/v1/kpi/facts/bulk", json={"items": items}, headers=crm(kpi))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 0, 6)
    fields = [res["errors"][0]["field"] if res["errors"] else None for res in body["results"]]
    assert fields == [
        None,
        None,
        "employee_id",
        "indicator",
        "indicator",
        "indicator",
        "indicator",
        "source_id",
    ]
    again = await kpi.client.post(
        "/api/v1/kpi/facts/bulk", json={"items": items[:2]}, headers=crm(kpi)
    )
    assert again.json()["duplicates"] == 2 and again.json()["created"] == 0
    b = (
        await kpi.client.get(
            f"/api/v1/kpi/people/{rep}/board?period=2026-11", headers=kpi.auth(rep, ["salesperson"])
        )
    ).json()
    by = {line["indicator"]: line for line in b["lines"]}
    assert by["leads"]["value"] == 4 and by["leads"]["gap"] == 6
    assert by["response_time"]["score"] == pytest.approx(30 / 36, abs=1e-4)
    assert b["total"] == pytest.approx(0.6 * 0.4 + 0.4 * 30 / 36, abs=1e-4)
    # one fact: 201, the same again 200, bad ones 4xx naming the field
    one = fact(rep, "leads", 1)
    assert (
        await kpi.client.post("/api/v1/kpi/facts", json=one, headers=crm(kpi))
    ).status_code == 201
    assert (
        await kpi.client.post("/api/v1/kpi/facts", json=one, headers=crm(kpi))
    ).status_code == 200
    bad = await kpi.client.post(
        "/api/v1/kpi/facts", json=fact("ghost", "leads", 1), headers=crm(kpi)
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "employee_id"
    clash = await kpi.client.post("/api/v1/kpi/facts", json={**one, "value": 2}, headers=crm(kpi))
    assert clash.status_code == 409
    naive = await kpi.client.post(
        "/api/v1/kpi/facts",
        json={**fact(rep, "leads", 1), "occurred_at": "2026-11-02T10:00:00"},
        headers=crm(kpi),
    )
    assert naive.status_code == 422
    too_many = await kpi.client.post(
        "/api/v1/kpi/facts/bulk",
        json={"items": [fact(rep, "leads", 1)] * 1001},
        headers=crm(kpi),
    )
    assert too_many.status_code == 422
    refused = await kpi.client.post(
        "/api/v1/kpi/facts", json=fact(rep, "leads", 1), headers=kpi.auth(rep, ["salesperson"])
    )
    assert refused.status_code == 403
    listed = await kpi.client.get(
        f"/api/v1/kpi/people/{rep}/facts?period=2026-11", headers=kpi.auth(rep, ["salesperson"])
    )
    assert len(listed.json()) == 3


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        (
            [
                {"indicator": "leads", "weight": 60, "target": 10},
                {"indicator": "deals", "weight": 30, "target": 10},
            ],
            "lines.weight",
        ),
        ([{"indicator": "leads", "weight": 100, "target": 0}], "lines[0].target"),
        ([{"indicator": "nope", "weight": 100, "target": 1}], "lines[0].indicator"),
        (
            [
                {"indicator": "leads", "weight": 50, "target": 1},
                {"indicator": "leads", "weight": 50, "target": 1},
            ],
            "lines[1].indicator",
        ),
        (
            [
                {
                    "indicator": "collection_cycle",
                    "weight": 100,
                    "target": 45,
                    "curve": {"kind": "lower_baseline", "baseline": 40},
                }
            ],
            "lines[0].curve.baseline",
        ),
        (
            [{"indicator": "deals", "weight": 100, "target": 5, "curve": {"kind": "closer"}}],
            "lines[0].curve.tolerance",
        ),
    ],
)
async def test_bad_plans_are_refused_whole(kpi, lines: list[dict[str, Any]], field: str) -> None:
    plan_id = f"bad-{uuid.uuid4().hex[:8]}"
    r = await kpi.client.put(
        f"/api/v1/kpi/plans/{plan_id}",
        json={"name_zh": "坏", "name_en": "Bad", "level": "x", "lines": lines},
        headers=admin(kpi),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert (
        await kpi.client.get(f"/api/v1/kpi/plans/{plan_id}", headers=admin(kpi))
    ).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"aggregation": "formula", "formula": "gross_profit / 0"}, "formula"),
        ({"aggregation": "formula", "formula": "__import__('os')"}, "formula"),
        ({"aggregation": "formula", "formula": "unknown_thing * 2"}, "formula"),
        ({"aggregation": "ratio", "numerator": "deals"}, "denominator"),
        ({"source": "peer_rating", "aggregation": "average"}, "scale_max"),
    ],
)
async def test_bad_indicators_are_refused(kpi, body: dict[str, Any], field: str) -> None:
    code = f"t_{uuid.uuid4().hex[:8]}"
    r = await kpi.client.put(
        f"/api/v1/kpi/indicators/{code}",
        json={"name_zh": "测试", "name_en": "Test", "unit": "count", **body},
        headers=admin(kpi),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert (
        await kpi.client.get(f"/api/v1/kpi/indicators/{code}", headers=admin(kpi))
    ).status_code == 404


async def test_circular_formulas_are_refused(kpi) -> None:
    a, b = f"a_{uuid.uuid4().hex[:6]}", f"b_{uuid.uuid4().hex[:6]}"
    base = {"name_zh": "甲", "name_en": "A", "unit": "count"}
    r = await kpi.client.put(
        f"/api/v1/kpi/indicators/{a}",
        json={**base, "aggregation": "formula", "formula": "deals * 2"},
        headers=admin(kpi),
    )
    assert r.status_code == 201, r.text
    r = await kpi.client.put(
        f"/api/v1/kpi/indicators/{b}",
        json={**base, "aggregation": "formula", "formula": f"{a} + 1"},
        headers=admin(kpi),
    )
    assert r.status_code == 201
    r = await kpi.client.put(
        f"/api/v1/kpi/indicators/{a}",
        json={**base, "aggregation": "formula", "formula": f"{b} / 2"},
        headers=admin(kpi),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "formula" and "->" in r.json()["detail"]
    assert (await kpi.client.get(f"/api/v1/kpi/indicators/{a}", headers=admin(kpi))).json()[
        "formula"
    ] == "deals * 2"


async def test_formula_indicator_on_the_board(kpi) -> None:
    rep = await hire(kpi)
    code = f"f_{uuid.uuid4().hex[:6]}"
    r = await kpi.client.put(
        f"/api/v1/kpi/indicators/{code}",
        json={
            "name_zh": "线索人均",
            "name_en": "Leads x2",
            "unit": "count",
            "aggregation": "formula",
            "formula": "leads * 2 / max(1, deals)",
        },
        headers=admin(kpi),
    )
    assert r.status_code == 201, r.text
    await own_plan(kpi, rep, [{"indicator": code, "weight": 100, "target": 10}])
    await kpi.client.post("/api/v1/kpi/facts", json=fact(rep, "leads", 4), headers=crm(kpi))
    b = (
        await kpi.client.get(f"/api/v1/kpi/people/{rep}/board?period=2026-11", headers=admin(kpi))
    ).json()
    assert b["lines"][0]["value"] == 8 and b["total"] == 0.8


async def test_plan_by_role_unit_and_person_and_probation(kpi) -> None:
    """Person > deepest unit > role; a salesperson on probation gets the new-salesperson
    plan; the seeded role plans cover the general manager and back office."""
    newbie = await hire(kpi, status=EmploymentStatus.PROBATION)
    veteran = await hire(kpi)
    fin = await hire(kpi, unit="G1", path=["G1"], role="finance")
    for eid, plan in ((newbie, "sales-new"), (veteran, "sales-freight"), (fin, "finance")):
        b = (
            await kpi.client.get(
                f"/api/v1/kpi/people/{eid}/board?period=2026-11", headers=admin(kpi)
            )
        ).json()
        assert b["plan"]["plan_id"] == plan, (eid, b["plan"])
    unit = f"U{uuid.uuid4().hex[:6]}"
    member = await hire(kpi, unit=unit, path=["G1", unit])
    r = await kpi.client.post(
        "/api/v1/kpi/plan-assignments",
        json={
            "plan_id": "sales-collaboration",
            "target_type": "unit",
            "target_id": unit,
            "effective_from": "2026-10",
        },
        headers=admin(kpi),
    )
    assert r.status_code == 201
    clash = await kpi.client.post(
        "/api/v1/kpi/plan-assignments",
        json={
            "plan_id": "sales-new",
            "target_type": "unit",
            "target_id": unit,
            "effective_from": "2026-12",
        },
        headers=admin(kpi),
    )
    assert clash.status_code == 409
    b = (
        await kpi.client.get(
            f"/api/v1/kpi/people/{member}/board?period=2026-11", headers=admin(kpi)
        )
    ).json()
    assert b["plan"]["plan_id"] == "sales-collaboration"
    b = (
        await kpi.client.get(
            f"/api/v1/kpi/people/{member}/board?period=2026-09", headers=admin(kpi)
        )
    ).json()
    assert b["plan"]["plan_id"] == "sales-freight"


async def test_team_board_and_team_bonus(kpi) -> None:
    """A team at 120 % of its target gives each member +10 points; the unit's board is for
    its manager and company-wide roles only."""
    unit = f"U{uuid.uuid4().hex[:6]}"
    a = await hire(kpi, unit=unit, path=["G1", unit])
    b = await hire(kpi, unit=unit, path=["G1", unit])
    for eid in (a, b):
        await own_plan(kpi, eid, [{"indicator": "leads", "weight": 100, "target": 10}])
    await kpi.client.post("/api/v1/kpi/facts", json=fact(a, "leads", 5), headers=crm(kpi))
    mgr = kpi.auth("M1", ["sales_manager"], [unit])
    r = await kpi.client.put(
        f"/api/v1/kpi/units/{unit}/targets/2026-11/leads", json={"target": 10}, headers=mgr
    )
    assert r.status_code == 200, r.text
    await kpi.client.post("/api/v1/kpi/facts", json=fact(b, "leads", 7), headers=crm(kpi))
    board_b = (
        await kpi.client.get(f"/api/v1/kpi/people/{b}/board?period=2026-11", headers=admin(kpi))
    ).json()
    assert board_b["bonus"] == pytest.approx(0.1)
    assert board_b["total"] == pytest.approx(0.7 + 0.1)
    board_a = (
        await kpi.client.get(f"/api/v1/kpi/people/{a}/board?period=2026-11", headers=admin(kpi))
    ).json()
    assert board_a["total"] == pytest.approx(0.5 + 0.1)
    team = await kpi.client.get(f"/api/v1/kpi/units/{unit}/board?period=2026-11", headers=mgr)
    assert team.status_code == 200, team.text
    t = team.json()
    assert t["members"] == 2 and t["top"][0]["employee_id"] == b
    assert t["team"][0]["earned"] is True and t["team"][0]["completion"] == 1.2
    assert t["average"] == pytest.approx(0.7)
    outsider = await kpi.client.get(
        f"/api/v1/kpi/units/{unit}/board", headers=kpi.auth("M2", ["sales_manager"], ["other"])
    )
    assert outsider.status_code == 404
    trend = await kpi.client.get(
        f"/api/v1/kpi/people/{a}/trend", headers=kpi.auth(a, ["salesperson"])
    )
    assert [p["period"] for p in trend.json()] == ["2026-11"]


async def test_sales_events_feed_the_sales_indicators(kpi) -> None:
    rep = await hire(kpi)
    await own_plan(
        kpi,
        rep,
        [
            {"indicator": "collected_revenue", "weight": 50, "target": 1000},
            {"indicator": "repurchase_rate", "weight": 25, "target": 0.5},
            {"indicator": "profit_per_shipment", "weight": 25, "target": 100},
        ],
    )
    at = dt.datetime(2026, 11, 12, 10, tzinfo=SH)
    for i, (customer, margin) in enumerate(
        (("甲公司", "50"), ("甲公司", "150"), ("乙公司", "100"))
    ):
        await kpi.publish(
            DealRecorded(
                deal_id=f"D{i}-{rep}",
                salesperson_id=rep,
                customer_name=customer,
                amount=Decimal("1000"),
                currency="CNY",
                closed_at=at,
                margin=Decimal(margin),
            )
        )
    await kpi.publish(
        DealRecorded(
            deal_id=f"DU-{rep}",
            salesperson_id=rep,
            customer_name="丙公司",
            amount=Decimal("99999"),
            currency="USD",
            closed_at=at,
        )
    )
    await kpi.publish(
        PaymentReceived(
            payment_id=f"P-{rep}",
            deal_id=f"D0-{rep}",
            salesperson_id=rep,
            amount=Decimal("500"),
            currency="CNY",
            paid_at=at,
        )
    )

    async def board():
        b = (
            await kpi.client.get(
                f"/api/v1/kpi/people/{rep}/board?period=2026-11", headers=admin(kpi)
            )
        ).json()
        by = {line["indicator"]: line for line in b["lines"]}
        done = (
            by["collected_revenue"]["value"] == 500
            and b["highlights"]["revenue"] == 3000
            and by["repurchase_rate"]["value"] is not None
            and by["profit_per_shipment"]["value"] == 75  # all four deals in
        )
        return b if done else None

    b = await eventually(board)
    by = {line["indicator"]: line for line in b["lines"]}
    assert b["highlights"]["revenue"] == 3000  # the USD deal is never added
    assert by["repurchase_rate"]["value"] == 0.25  # 1 repeat of 4 deals (any currency)
    assert by["profit_per_shipment"]["value"] == 75  # 300 CNY margin / 4 deals
    assert b["highlights"]["collected_share"] == pytest.approx(500 / 3000, abs=1e-4)


def _xlsx(rows: list[list[Any]]) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_file_import_csv_gbk_and_xlsx(kpi) -> None:
    """Valid rows applied, bad rows reported (row, column), the same file again changes
    nothing; Chinese headers and indicator names; GBK and XLSX alike."""
    rep = await hire(kpi)
    await own_plan(kpi, rep, [{"indicator": "leads", "weight": 100, "target": 20}])
    text = (
        "工号,指标,数值,日期,单据号\n"
        f"{rep},线索数,5,2026-11-03,CRM-{rep}-1\n"
        f'{rep},leads,"1,000",2026/11/04,CRM-{rep}-2\n'  # a thousands separator
        f"{rep},不存在的指标,1,2026-11-04,CRM-{rep}-3\n"
        f"nobody,leads,1,2026-11-04,CRM-{rep}-4\n"
        f"{rep},leads,abc,2026-11-04,CRM-{rep}-5\n"
        f"{rep},leads,2,someday,CRM-{rep}-6\n"
    )
    url = "/api/v1/kpi/facts/imports"
    for n, (body, ctype) in enumerate(
        [
            (b"\xef\xbb\xbf" + text.encode("utf-8"), "text/csv"),
            (text.encode("gbk"), "text/csv"),
        ]
    ):
        r = await kpi.client.post(url, content=body, headers={**crm(kpi), "content-type": ctype})
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["status"] == "finished" and job["rows_read"] == 6
        # the second time (GBK, the same rows): nothing new
        assert (job["rows_applied"], job["rows_duplicate"]) == ((2, 0) if n == 0 else (0, 2))
        assert [(e["row"], e["field"]) for e in job["errors"]] == [
            (4, "indicator"),
            (5, "employee_id"),
            (6, "value"),
            (7, "occurred_at"),
        ]
        again = await kpi.client.get(f"{url}/{job['import_id']}", headers=crm(kpi))
        assert again.json()["rows_failed"] == 4
    xlsx = _xlsx(
        [
            ["employee_id", "indicator", "value", "occurred_at"],
            [rep, "leads", 3, dt.datetime(2026, 11, 6, 9, 30)],
            [rep, "leads", 3, dt.datetime(2026, 11, 6, 9, 30)],  # no id: the row's digest
        ]
    )
    xt = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = await kpi.client.post(url, content=xlsx, headers={**crm(kpi), "content-type": xt})
    job = r.json()
    assert (job["rows_applied"], job["rows_duplicate"], job["rows_failed"]) == (1, 1, 0), job
    b = (
        await kpi.client.get(f"/api/v1/kpi/people/{rep}/board?period=2026-11", headers=admin(kpi))
    ).json()
    assert b["lines"][0]["value"] == 1008
    bad = await kpi.client.post(
        url, content=b"x", headers={**crm(kpi), "content-type": "text/plain"}
    )
    assert bad.status_code == 415
    no_header = await kpi.client.post(
        url,
        content="姓名,数值\n张三,1\n".encode(),
        headers={**crm(kpi), "content-type": "text/csv"},
    )
    assert no_header.status_code == 422 and no_header.json()["errors"][0]["field"] == "employee_id"
    dry = await kpi.client.post(
        f"{url}?dry_run=true",
        content=f"工号,指标,数值,日期\n{rep},leads,50,2026-11-09\n".encode(),
        headers={**crm(kpi), "content-type": "text/csv"},
    )
    assert dry.json()["rows_applied"] == 1
    b = (
        await kpi.client.get(f"/api/v1/kpi/people/{rep}/board?period=2026-11", headers=admin(kpi))
    ).json()
    assert b["lines"][0]["value"] == 1008  # the dry run wrote nothing


async def _outbox(kpi, topic: str, *ids: str) -> list[dict[str, Any]]:
    async with kpi.runtime.sessions() as s:
        rows = await outbox_rows_about(s, kpi.runtime.tables.outbox, *ids, topic=topic)
        out = []
        for event_id, _ in rows:
            payload = (
                await s.execute(
                    select(kpi.runtime.tables.outbox.c.payload).where(
                        kpi.runtime.tables.outbox.c.event_id == event_id
                    )
                )
            ).scalar_one()
            data = json.loads(payload)
            out.append(data.get("data", data))
        return out


async def test_period_close_snapshots_locks_and_late_facts_adjust_the_next(kpi) -> None:
    from zhanli_shared.events.contracts.kpi import TrainingRecommended

    rep = await hire(kpi)
    await own_plan(
        kpi,
        rep,
        [
            {"indicator": "leads", "weight": 70, "target": 10},
            {"indicator": "response_time", "weight": 30, "target": 30, "curve": {"kind": "lower"}},
        ],
        period="2026-08",
    )
    await kpi.client.post(
        "/api/v1/kpi/facts/bulk",
        json={"items": [fact(rep, "leads", 8, month=8), fact(rep, "response_time", 30, month=8)]},
        headers=crm(kpi),
    )
    shut = await kpi.client.post("/api/v1/kpi/periods/2026-08/close", headers=admin(kpi))
    assert shut.status_code == 200, shut.text
    assert shut.json()["locked"] >= 1
    again = await kpi.client.post("/api/v1/kpi/periods/2026-08/close", headers=admin(kpi))
    assert again.status_code == 409
    assert (
        await kpi.client.post("/api/v1/kpi/periods/2099-01/close", headers=admin(kpi))
    ).status_code == 409
    late = await kpi.client.post(
        "/api/v1/kpi/facts", json=fact(rep, "leads", 2, month=8), headers=crm(kpi)
    )
    assert late.status_code == 201
    assert late.json()["period"] == "2026-09" and late.json()["adjustment_of"] == "2026-08"
    b = (
        await kpi.client.get(f"/api/v1/kpi/people/{rep}/board?period=2026-08", headers=admin(kpi))
    ).json()
    assert b["locked"] is True and b["total"] == pytest.approx(0.7 * 0.8 + 0.3)
    nxt = (
        await kpi.client.get(f"/api/v1/kpi/people/{rep}/facts?period=2026-09", headers=admin(kpi))
    ).json()
    assert [(f["value"], f["original_period"]) for f in nxt] == [(2, "2026-08")]
    (rec,) = await _outbox(kpi, TrainingRecommended.topic_name(), rep)
    assert rec["indicator"] == "leads" and rec["period"] == "2026-08"


async def test_daily_growth_is_published(kpi) -> None:
    from zhanli_kpi.boards.models import DailyScore
    from zhanli_shared.events.contracts.kpi import PerformanceGrowthMeasured

    a, b = f"G{uuid.uuid4().hex[:8]}", f"G{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    async with kpi.runtime.sessions() as s:
        for eid, day, score in ((a, 19, 0.5), (a, 20, 0.6), (b, 18, 0.4)):
            s.add(
                DailyScore(
                    employee_id=eid,
                    day=dt.date(2026, 11, day),
                    period="2026-11",
                    score=score,
                    updated_at=now,
                )
            )
        await s.commit()
    r = await kpi.client.post("/api/v1/kpi/growth/2026-11-20", headers=admin(kpi))
    assert r.status_code == 200, r.text
    got = {
        e["employee_id"]: Decimal(e["growth"])
        for e in await _outbox(kpi, PerformanceGrowthMeasured.topic_name(), a, b)
    }
    assert got == {a: Decimal("0.2"), b: Decimal("0")}  # b: no change since the 18th
    refused = await kpi.client.post(
        "/api/v1/kpi/growth/2026-11-20", headers=kpi.auth(a, ["salesperson"])
    )
    assert refused.status_code == 403


async def test_ratings_anonymous_once_never_self(kpi) -> None:
    unit = f"U{uuid.uuid4().hex[:6]}"
    rated = await hire(kpi, unit=unit, path=["G1", unit])
    peer = await hire(kpi, unit=unit, path=["G1", unit])
    ops = await hire(kpi, unit="OPS", path=["G1", "OPS"], role="operations")
    await own_plan(
        kpi,
        rated,
        [
            {"indicator": "peer_teamwork", "weight": 50, "target": 4},
            {"indicator": "collaboration_rating", "weight": 50, "target": 4},
        ],
    )
    url = "/api/v1/kpi/ratings"

    def rating(indicator: str, score: float, who: str = rated) -> dict[str, Any]:
        return {
            "rated_id": who,
            "indicator": indicator,
            "period": "2026-11",
            "score": score,
            "comment": "配合很好",
        }

    as_peer, as_ops = kpi.auth(peer, ["salesperson"]), kpi.auth(ops, ["salesperson"])
    r = await kpi.client.post(url, json=rating("peer_teamwork", 5), headers=as_peer)
    assert r.status_code == 201, r.text
    again = await kpi.client.post(url, json=rating("peer_teamwork", 1), headers=as_peer)
    assert again.status_code == 409
    cases = [
        (rating("peer_teamwork", 4), kpi.auth(rated, ["salesperson"]), "rated_id"),  # self
        (rating("peer_teamwork", 6), as_ops, "score"),  # out of 1-5
        (rating("collaboration_rating", 4), as_peer, "indicator"),  # same role: not cross
        (rating("leads", 4), as_ops, "indicator"),  # not a rating
        (rating("peer_teamwork", 4, "nobody"), as_ops, "rated_id"),
    ]
    for body, headers, field in cases:
        r = await kpi.client.post(url, json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field
    r = await kpi.client.post(url, json=rating("collaboration_rating", 3), headers=as_ops)
    assert r.status_code == 201, r.text
    seen = await kpi.client.get(
        f"/api/v1/kpi/people/{rated}/ratings?period=2026-11",
        headers=kpi.auth(rated, ["salesperson"]),
    )
    assert seen.status_code == 200
    assert peer not in seen.text and ops not in seen.text  # anonymous
    by = {x["indicator"]: x for x in seen.json()}
    assert by["peer_teamwork"]["average"] == 5 and by["collaboration_rating"]["count"] == 1
    b = (
        await kpi.client.get(f"/api/v1/kpi/people/{rated}/board?period=2026-11", headers=admin(kpi))
    ).json()
    assert b["total"] == pytest.approx(0.5 * 1.25 + 0.5 * 0.75)


async def test_team_analysis_export(kpi) -> None:
    import io

    from openpyxl import load_workbook

    unit = f"U{uuid.uuid4().hex[:6]}"
    a = await hire(kpi, unit=unit, path=["G1", unit])
    b = await hire(kpi, unit=unit, path=["G1", unit])
    for eid, leads in ((a, 9), (b, 3)):
        await own_plan(
            kpi,
            eid,
            [
                {"indicator": "leads", "weight": 60, "target": 10},
                {"indicator": "deals", "weight": 40, "target": 5},
            ],
        )
        await kpi.client.post("/api/v1/kpi/facts", json=fact(eid, "leads", leads), headers=crm(kpi))
    url = f"/api/v1/kpi/units/{unit}/analysis?period=2026-11"
    r = await kpi.client.get(url, headers=kpi.auth("hr", ["hr_bp"]))
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("排名 Rank,工号 Employee")
    assert lines[1].split(",")[1] == a and "yes" in lines[1] and "成交票数" in lines[1]
    x = await kpi.client.get(url + "&format=xlsx", headers=kpi.auth("hr", ["hr_admin"]))
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.cell(2, 2).value == a
    no = await kpi.client.get(url, headers=kpi.auth("m", ["sales_manager"], [unit]))
    assert no.status_code == 403


async def test_pace_alert_with_causes_through_linked_indicators(kpi) -> None:
    from zhanli_kpi.alerts import service as alerts
    from zhanli_kpi.boards import service as boards
    from zhanli_kpi.core import board as core
    from zhanli_shared.events.contracts.kpi import KpiPaceAlert

    rep = await hire(kpi)
    cs = await hire(kpi, role="customer_service")
    r = await kpi.client.post(
        "/api/v1/kpi/facts", json=fact(cs, "response_time", 48, month=7), headers=crm(kpi)
    )
    assert r.status_code == 201, r.text
    async with kpi.runtime.sessions() as s:
        person = await boards.people.get(s, rep)
        lib, _ = await boards.library(s)
        board = core.Board([core.LineResult("revenue", 40, 100, 20, 0.2, 0.2, 0.08, 80)])
        event = await alerts.check_pace(
            s, kpi.runtime.publisher, kpi.settings, person, "2026-07", board, lib, 0.5
        )
        assert event is not None
        assert [(c.indicator, c.owner_role) for c in event.causes] == [
            ("response_time", "customer_service")
        ]
        assert event.notify_roles == ["customer_service"]
        assert (
            await alerts.check_pace(  # once a day
                s, kpi.runtime.publisher, kpi.settings, person, "2026-07", board, lib, 0.5
            )
            is None
        )
        on_pace = core.Board([core.LineResult("revenue", 40, 100, 45, 0.45, 0.45, 0.18, 55)])
        assert (
            await alerts.check_pace(
                s, kpi.runtime.publisher, kpi.settings, person, "2026-07", on_pace, lib, 0.5
            )
            is None
        )
        await s.commit()
    (published,) = await _outbox(kpi, KpiPaceAlert.topic_name(), rep)
    assert published["completion"] == "0.2" and published["pace"] == "0.5"
