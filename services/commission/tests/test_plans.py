"""Plans through the API on the real broker and both databases: tiers, splits, refunds,
late payments, the KPI gate, retroactive corrections, and bad input."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

from sqlalchemy import func, select

from zhanli_commission.commissions.models import CommissionLine
from zhanli_commission.plans.models import Plan
from zhanli_commission.sales.models import Deal, Payment
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about, settled

from .test_slice import hire

PERIOD = "2026-09"
TIERS_5_8_10 = [
    {"from": "0", "rate": "0.05", "name": "基础 base"},
    {"from": "1", "rate": "0.08", "name": "加速 accelerator"},
    {"from": "1.5", "rate": "0.10"},
]


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def fields(problem: dict) -> list[str]:
    return [e["field"] for e in problem.get("errors") or []]


def fin(svc):
    return svc.auth("fin", ["finance"])


async def make_plan(svc, rules: dict, *, assign_to: str | list[str]) -> str:
    plan_id = uid("PL")
    r = await svc.client.post(
        "/api/v1/commission/plans",
        headers=fin(svc),
        json={
            "plan_id": plan_id,
            "name": "华东销售提成 East China sales",
            "version": {"effective_from": "2026-01", "rules": rules},
        },
    )
    assert r.status_code == 201, r.text
    for person in [assign_to] if isinstance(assign_to, str) else assign_to:
        r = await svc.client.post(
            "/api/v1/commission/plan-assignments",
            headers=fin(svc),
            json={
                "plan_id": plan_id,
                "target_type": "person",
                "target_id": person,
                "effective_from": "2026-01",
            },
        )
        assert r.status_code == 201, r.text
    return plan_id


async def deal(svc, rep: str, amount: str, *, day: int = 1, **extra) -> str:
    deal_id = uid("D")
    r = await svc.client.post(
        "/api/v1/commission/deals",
        headers=fin(svc),
        json={
            "deal_id": deal_id,
            "salesperson_id": rep,
            "customer_name": "杭州云帆科技",
            "amount": amount,
            "closed_at": f"{PERIOD}-{day:02d}T09:00:00+08:00",
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return deal_id


async def pay(svc, deal_id: str, amount: str, *, day: int, hour: int = 10) -> str:
    payment_id = uid("P")
    r = await svc.client.post(
        "/api/v1/commission/payments",
        headers=fin(svc),
        json={
            "payment_id": payment_id,
            "deal_id": deal_id,
            "amount": amount,
            "paid_at": f"{PERIOD}-{day:02d}T{hour:02d}:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    return payment_id


async def statement(svc, rep: str, *, lines: int, period: str = PERIOD) -> dict:
    url = f"/api/v1/commission/people/{rep}/statement?period={period}"

    async def ready():
        r = await svc.client.get(url, headers=fin(svc))
        body = r.json()
        return body if len(body["lines"]) >= lines else None

    return await eventually(ready)


async def test_worked_example_retroactive_true_up_through_the_api(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    plan = await make_plan(
        commission,
        {"tier_mode": "retroactive", "quota": "100000", "tiers": TIERS_5_8_10},
        assign_to=rep,
    )
    d = await deal(commission, rep, "200000.00")
    await pay(commission, d, "90000.00", day=3)
    await pay(commission, d, "30000.00", day=4)
    body = await statement(commission, rep, lines=2)
    first, second = body["lines"]
    assert D(first["amount"]) == D("4500.00") and first["kind"] == "earning"
    assert D(second["amount"]) == D("5100.00")
    assert D(second["own"]) == D("2400.00") and D(second["trueup"]) == D("2700.00")
    assert second["tier"] == "加速 accelerator" and second["plan_id"] == plan
    assert D(body["total"]) == D("9600.00")
    assert D(body["attainment"]) == D("1.2") and D(body["quota"]) == D("100000")

    # what-if from here: one more 40,000 crosses 150 % -> everything at 10 %
    r = await commission.client.post(
        f"/api/v1/commission/people/{rep}/what-if",
        headers=commission.auth(rep, ["salesperson"]),
        json={"amount": "40000.00", "paid_at": f"{PERIOD}-20T10:00:00+08:00"},
    )
    assert r.status_code == 200, r.text
    w = r.json()
    assert D(w["new_total"]) == D("16000.00") and D(w["estimated_commission"]) == D("6400.00")
    assert w["tier_before"] == "加速 accelerator" and w["tier_after"] == "tier3"
    assert D(w["own"]) == D("4000.00") and D(w["trueup"]) == D("2400.00")


async def test_late_payment_reprices_later_lines_and_says_so(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    await make_plan(
        commission,
        {"tier_mode": "graduated", "quota": "100000", "tiers": TIERS_5_8_10},
        assign_to=rep,
    )
    d = await deal(commission, rep, "300000.00")
    await pay(commission, d, "100000.00", day=10)
    await statement(commission, rep, lines=1)
    await pay(commission, d, "50000.00", day=5)  # arrives late, belongs earlier
    body = await statement(commission, rep, lines=3)
    kinds = [(line["kind"], D(line["amount"])) for line in body["lines"]]
    assert ("repricing", D("1500.00")) in kinds  # the day-10 payment now partly at 8 %
    assert D(body["total"]) == D("9000.00")  # 100k x 5 % + 50k x 8 %
    assert sum(D(line["amount"]) for line in body["lines"]) == D(body["total"])


async def test_split_deal_credits_every_rep_to_the_fen(commission) -> None:
    a, b, c = uid("E"), uid("E"), uid("E")
    for rep in (a, b, c):
        await hire(commission, rep)
    d = await deal(
        commission,
        a,
        "100.00",
        splits=[
            {"salesperson_id": a, "share": "33.3333"},
            {"salesperson_id": b, "share": "33.3333"},
            {"salesperson_id": c, "share": "33.3334"},
        ],
    )
    await pay(commission, d, "0.10", day=2)
    bases = []
    for rep in (a, b, c):
        body = await statement(commission, rep, lines=1)
        bases.append(D(body["lines"][0]["basis_amount"]))
    assert sum(bases) == D("0.10") and sorted(bases) == [D("0.03"), D("0.03"), D("0.04")]
    r = await commission.client.get(f"/api/v1/commission/deals/{d}", headers=fin(commission))
    assert [s["salesperson_id"] for s in r.json()["splits"]] == [a, b, c]


async def test_refund_claws_back_by_window_and_refund_then_repay_restores(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    await make_plan(
        commission,
        {
            "tier_mode": "flat",
            "rate": "0.10",
            "clawback": [{"within_days": 90, "share": "1"}, {"within_days": 180, "share": "0.5"}],
        },
        assign_to=rep,
    )
    d = await deal(commission, rep, "10000.00")
    await pay(commission, d, "10000.00", day=2)
    await statement(commission, rep, lines=1)
    r = await commission.client.post(
        "/api/v1/commission/refunds",
        headers=fin(commission),
        json={
            "refund_id": uid("R"),
            "deal_id": d,
            "amount": "4000.00",
            "refunded_at": f"{PERIOD}-15T10:00:00+08:00",
            "reason": "退货 returned goods",
        },
    )
    assert r.status_code == 201, r.text
    body = await statement(commission, rep, lines=2)
    claw = body["lines"][-1]
    assert claw["kind"] == "clawback" and D(claw["amount"]) == D("-400.00")
    assert D(body["total"]) == D("600.00")
    # more than what is left to refund
    r = await commission.client.post(
        "/api/v1/commission/refunds",
        headers=fin(commission),
        json={
            "refund_id": uid("R"),
            "deal_id": d,
            "amount": "6000.01",
            "refunded_at": f"{PERIOD}-16T10:00:00+08:00",
        },
    )
    assert r.status_code == 422 and fields(r.json()) == ["amount"]


async def test_cancelled_deal_refuses_payments(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    d = await deal(commission, rep, "5000.00")
    r = await commission.client.post(
        f"/api/v1/commission/deals/{d}/cancel",
        headers=fin(commission),
        json={"cancelled_at": f"{PERIOD}-05T10:00:00+08:00", "reason": "客户取消"},
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await commission.client.post(
        "/api/v1/commission/payments",
        headers=fin(commission),
        json={
            "payment_id": uid("P"),
            "deal_id": d,
            "amount": "1.00",
            "paid_at": f"{PERIOD}-06T10:00:00+08:00",
        },
    )
    assert r.status_code == 422 and fields(r.json()) == ["deal_id"]


async def test_kpi_gate_opens_with_the_score_event(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    await make_plan(
        commission,
        {
            "tier_mode": "graduated",
            "quota": "100000",
            "tiers": TIERS_5_8_10,
            "kpi_gate": {"threshold": "0.9"},
        },
        assign_to=rep,
    )
    d = await deal(commission, rep, "120000.00")
    await pay(commission, d, "120000.00", day=2)
    body = await statement(commission, rep, lines=1)
    assert D(body["total"]) == D("6000.00")  # no score yet: accelerator withheld
    assert "accelerator withheld" in " ".join(body["lines"][0]["explanation"]["notes"])
    import datetime as dt

    await commission.publish(
        KpiScoreUpdated(
            employee_id=rep, period=PERIOD, score=D("0.93"), calculated_at=dt.datetime.now(dt.UTC)
        )
    )
    body = await statement(commission, rep, lines=2)
    assert body["lines"][-1]["kind"] == "repricing"
    assert D(body["total"]) == D("6600.00")


async def test_correction_shows_differences_before_applying(commission) -> None:
    reps = [uid("E"), uid("E")]
    for rep in reps:
        await hire(commission, rep)
    plan = await make_plan(commission, {"tier_mode": "flat", "rate": "0.03"}, assign_to=reps)
    for rep, amount in zip(reps, ("10000.00", "20000.00"), strict=True):
        d = await deal(commission, rep, amount)
        await pay(commission, d, amount, day=3)
        await statement(commission, rep, lines=1)
    url = f"/api/v1/commission/plans/{plan}/versions/1/corrections"
    body = {"rules": {"tier_mode": "flat", "rate": "0.035"}, "reason": "费率录入错误 typo"}
    r = await commission.client.post(url, headers=fin(commission), json=body)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["applied"] is False and D(preview["total_difference"]) == D("150.00")
    assert {d["salesperson_id"]: D(d["difference"]) for d in preview["differences"]} == {
        reps[0]: D("50.00"),
        reps[1]: D("100.00"),
    }
    s = await statement(commission, reps[0], lines=1)
    assert D(s["total"]) == D("300.00")  # nothing applied yet
    r = await commission.client.post(url, headers=fin(commission), json={**body, "apply": True})
    assert r.status_code == 200 and r.json()["applied"] is True
    s = await statement(commission, reps[0], lines=2)
    assert D(s["total"]) == D("350.00") and s["lines"][-1]["kind"] == "repricing"


async def test_bad_plans_and_facts_get_clear_4xx_and_write_nothing(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    plan = await make_plan(commission, {"tier_mode": "flat", "rate": "0.03"}, assign_to=rep)
    h = fin(commission)

    async def own_rows() -> tuple[object, ...]:
        """This test's rows only (the consumer may be writing other tests' meanwhile)."""
        async with commission.runtime.sessions() as s:
            lines = (
                await s.execute(
                    select(func.count())
                    .select_from(CommissionLine)
                    .where(CommissionLine.salesperson_id.in_([rep, "ghost"]))
                )
            ).scalar_one()
            deals = (await s.execute(select(Deal.deal_id).where(Deal.salesperson_id == rep))).all()
            plans = (await s.execute(select(Plan.plan_id).where(Plan.plan_id.in_(case_ids)))).all()
            payments = (
                await s.execute(select(Payment.payment_id).where(Payment.payment_id.in_(case_ids)))
            ).all()
            events = await outbox_rows_about(s, commission.runtime.tables.outbox, rep, *case_ids)
        return lines, deals, plans, payments, events

    cases = [
        # overlapping versions
        (
            f"/api/v1/commission/plans/{plan}/versions",
            {"effective_from": "2026-06", "rules": {"tier_mode": "flat", "rate": "0.04"}},
            409,
            "effective_from",
        ),
        # tiered without quota
        (
            "/api/v1/commission/plans",
            {
                "plan_id": uid("PL"),
                "name": "x",
                "version": {
                    "effective_from": "2026-01",
                    "rules": {"tier_mode": "graduated", "tiers": TIERS_5_8_10},
                },
            },
            422,
            "version.rules.quota",
        ),
        # unknown plan
        (
            "/api/v1/commission/plan-assignments",
            {
                "plan_id": "nope",
                "target_type": "person",
                "target_id": rep,
                "effective_from": "2026-01",
            },
            422,
            "plan_id",
        ),
        # unknown rep
        (
            "/api/v1/commission/plan-assignments",
            {
                "plan_id": plan,
                "target_type": "person",
                "target_id": "ghost",
                "effective_from": "2026-01",
            },
            422,
            "target_id",
        ),
        # splits not totalling 100
        (
            "/api/v1/commission/deals",
            {
                "deal_id": uid("D"),
                "salesperson_id": rep,
                "customer_name": "x",
                "amount": "10.00",
                "closed_at": "2026-09-01T00:00:00+08:00",
                "splits": [{"salesperson_id": rep, "share": "60"}],
            },
            422,
            "splits",
        ),
        # negative amount
        (
            "/api/v1/commission/deals",
            {
                "deal_id": uid("D"),
                "salesperson_id": rep,
                "customer_name": "x",
                "amount": "-10.00",
                "closed_at": "2026-09-01T00:00:00+08:00",
            },
            422,
            "amount",
        ),
        # payment before its deal (through the API: refused)
        (
            "/api/v1/commission/payments",
            {
                "payment_id": uid("P"),
                "deal_id": "no-such-deal",
                "amount": "1.00",
                "paid_at": "2026-09-01T00:00:00+08:00",
            },
            422,
            "deal_id",
        ),
    ]
    case_ids = [
        body[k]
        for _, body, _, _ in cases
        for k in ("plan_id", "deal_id", "payment_id")
        if k in body
    ]
    await settled(commission, rep, plan)
    before = await own_rows()
    for url, body, status, field in cases:
        r = await commission.client.post(url, headers=h, json=body)
        assert r.status_code == status, (url, r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(field in f for f in fields(problem)), (url, problem)
    assert await own_rows() == before


async def test_plans_are_hr_and_finance_business(commission) -> None:
    body = {
        "plan_id": uid("PL"),
        "name": "x",
        "version": {"effective_from": "2026-01", "rules": {"tier_mode": "flat", "rate": "0.03"}},
    }
    for roles in (["salesperson"], ["sales_manager"], ["integration"]):
        r = await commission.client.post(
            "/api/v1/commission/plans", headers=commission.auth("u1", roles), json=body
        )
        assert r.status_code == 403, roles
    r = await commission.client.post(
        "/api/v1/commission/plans", headers=commission.auth("h", ["hr_admin"]), json=body
    )
    assert r.status_code == 201


async def hire_as(svc, employee_id: str, *, manager_id: str | None, **extra) -> None:
    from zhanli_shared.events.contracts.directory import EmployeeUpserted

    await svc.publish(
        EmployeeUpserted(
            employee_id=employee_id,
            name=extra.pop("name", "陈静"),
            org_unit_id="T9",
            org_path=["G1", "B1", "T9"],
            manager_id=manager_id,
            job_role=extra.pop("job_role", "salesperson"),
            roles=["salesperson"],
            **extra,
        )
    )

    async def known():
        r = await svc.client.get(
            f"/api/v1/commission/people/{employee_id}/statement", headers=fin(svc)
        )
        return r.status_code == 200

    await eventually(known, timeout_s=30)


async def test_manager_override_follows_the_team_in_real_time(commission) -> None:
    mgr, rep = uid("M"), uid("E")
    await hire_as(commission, mgr, manager_id=None, job_role="sales_manager", name="刘洋")
    await hire_as(commission, rep, manager_id=mgr)
    await make_plan(
        commission,
        {"tier_mode": "flat", "rate": "0.02", "manager_override": {"rate": "0.10"}},
        assign_to=mgr,
    )
    d = await deal(commission, rep, "20000.00")
    await pay(commission, d, "10000.00", day=3)
    body = await statement(commission, mgr, lines=1)
    (line,) = body["lines"]
    assert line["kind"] == "override" and D(line["amount"]) == D("30.00")  # 10 % of 300.00
    assert rep in line["explanation"]["notes"][0]
    await pay(commission, d, "5000.00", day=4)
    body = await statement(commission, mgr, lines=2)
    assert D(body["total"]) == D("45.00")  # 10 % of 450.00


async def test_flexible_probation_target_raised_by_growth_pays_the_reward(commission) -> None:
    import datetime as dt

    from zhanli_shared.events.contracts.kpi import PerformanceGrowthMeasured
    from zhanli_shared.events.contracts.learning import SkillImprovementMeasured

    fast, learner = uid("E"), uid("E")
    for rep in (fast, learner):
        await hire_as(
            commission, rep, manager_id=None, status="probation", hired_on=dt.date(2026, 8, 20)
        )
    await make_plan(
        commission,
        {
            "tier_mode": "flat",
            "rate": "0.03",
            "probation": {"raised_reward": "800.00"},
        },
        assign_to=[fast, learner],
    )
    now = dt.datetime.now(dt.UTC)
    await commission.publish(
        PerformanceGrowthMeasured(
            employee_id=fast, day=dt.date(2026, 9, 4), growth=D("0.062"), measured_at=now
        )
    )
    await commission.publish(
        SkillImprovementMeasured(
            employee_id=learner, week="2026-W37", improvement=D("0.15"), measured_at=now
        )
    )
    url = "/api/v1/commission/people/{}/statement?period=" + PERIOD

    async def target(rep: str, expected: int):
        r = await commission.client.get(url.format(rep), headers=fin(commission))
        p = r.json()["probation"]
        return p if p and p["target_deals"] == expected else None

    p = await eventually(lambda: target(fast, 4))
    assert p["adjustment"] == "raised" and p["deals"] == 0 and p["met"] is False
    p = await eventually(lambda: target(learner, 2))
    assert p["adjustment"] == "lowered" and p["month_of_service"] == 2
    for day in (2, 3, 5, 8):
        await deal(commission, fast, "1000.00", day=day)
    body = await statement(commission, fast, lines=1)
    (bonus,) = [line for line in body["lines"] if line["kind"] == "bonus"]
    assert D(bonus["amount"]) == D("800.00")
    assert body["probation"]["met"] is True and body["probation"]["deals"] == 4
    # two deals meet the lowered target, but only a raised target carries the reward
    for day in (2, 3):
        await deal(commission, learner, "1000.00", day=day)

    async def met():
        r = await commission.client.get(url.format(learner), headers=fin(commission))
        return r.json()["probation"]["met"]

    assert await eventually(met)
    r = await commission.client.get(url.format(learner), headers=fin(commission))
    assert [line for line in r.json()["lines"] if line["kind"] == "bonus"] == []


async def test_booking_basis_earns_at_close_and_cancellation_reverses_the_unpaid_part(
    commission,
) -> None:
    rep = uid("E")
    await hire(commission, rep)
    await make_plan(
        commission, {"tier_mode": "flat", "rate": "0.05", "basis": "booked"}, assign_to=rep
    )
    d = await deal(commission, rep, "10000.00", day=2)
    body = await statement(commission, rep, lines=1)
    assert D(body["total"]) == D("500.00") and body["lines"][0]["kind"] == "earning"
    await pay(commission, d, "4000.00", day=3)  # collecting changes nothing on booking basis
    r = await commission.client.post(
        f"/api/v1/commission/deals/{d}/cancel",
        headers=fin(commission),
        json={"cancelled_at": f"{PERIOD}-10T10:00:00+08:00", "reason": "合同终止"},
    )
    assert r.status_code == 200, r.text
    body = await statement(commission, rep, lines=2)
    claw = body["lines"][-1]
    assert claw["kind"] == "clawback" and D(claw["amount"]) == D("-300.00")  # 6,000 unpaid
    assert D(body["total"]) == D("200.00")


async def test_margin_based_plan_pays_on_the_deals_profit(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    await make_plan(
        commission, {"tier_mode": "flat", "rate": "0.10", "measure": "margin"}, assign_to=rep
    )
    d = await deal(commission, rep, "50000.00", margin="7500.00")  # freight: 15 % margin
    await pay(commission, d, "20000.00", day=4)
    body = await statement(commission, rep, lines=1)
    line = body["lines"][0]
    assert D(line["basis_amount"]) == D("3000.00")  # the payment's share of the margin
    assert D(body["total"]) == D("300.00")
