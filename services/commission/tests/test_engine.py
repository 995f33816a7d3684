"""The pricing engine: the issue's worked examples, every plan feature, and its invariants."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from zhanli_commission.core.engine import Credit, PricingError, price_period, what_if
from zhanli_commission.core.plan import PlanRules
from zhanli_commission.core.quotas import effective_quota, months_of_service
from zhanli_commission.core.splits import SplitError, split_amount

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
CLOSED = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def pay(i: int, amount: str | D, deal: str | None = None, **kw: object) -> Credit:
    values: dict = {
        "credit_id": f"p{i:04d}",
        "deal_id": deal or f"d{i:04d}",
        "kind": "payment",
        "basis": D(amount),
        "occurred_at": T0 + dt.timedelta(minutes=i),
        "deal_closed_at": CLOSED,
    }
    values.update(kw)
    return Credit(**values)


def refund(i: int, amount: str | D, deal: str, *, days: int = 1) -> Credit:
    return Credit(
        credit_id=f"r{i:04d}",
        deal_id=deal,
        kind="refund",
        basis=-D(amount),
        occurred_at=CLOSED + dt.timedelta(days=days, minutes=i),
        deal_closed_at=CLOSED,
    )


def plan(mode: str, **kw: object) -> PlanRules:
    base: dict = {"tier_mode": mode, "quota": "100000"}
    if mode == "flat":
        base = {"tier_mode": "flat", "rate": "0.03"}
    base.update(kw)
    return PlanRules.model_validate(base)


TIERS_2_4_6 = [
    {"from": "0", "rate": "0.02"},
    {"from": "0.5", "rate": "0.04"},
    {"from": "1", "rate": "0.06"},
]
TIERS_5_8_10 = [
    {"from": "0", "rate": "0.05"},
    {"from": "1", "rate": "0.08"},
    {"from": "1.5", "rate": "0.10"},
]


# --- the worked examples ---------------------------------------------------------


def test_worked_example_graduated_130k_gives_4800() -> None:
    pos = price_period(plan("graduated", tiers=TIERS_2_4_6), [pay(1, "130000")])
    assert pos.total == D("4800.00")
    (line,) = pos.lines
    assert [(s.basis, s.rate) for s in line.slices] == [
        (D("50000"), D("0.02")),
        (D("50000"), D("0.04")),
        (D("30000"), D("0.06")),
    ]
    assert pos.attainment == D("1.3")
    assert pos.tier == "tier3"


def test_worked_example_retroactive_130k_gives_7800() -> None:
    pos = price_period(plan("retroactive", tiers=TIERS_2_4_6), [pay(1, "130000")])
    assert pos.total == D("7800.00")


def test_worked_example_graduated_payment_crossing_quota_earns_2100() -> None:
    pos = price_period(plan("graduated", tiers=TIERS_5_8_10), [pay(1, "90000"), pay(2, "30000")])
    first, second = pos.lines
    assert first.amount == D("4500.00")
    assert second.amount == D("2100.00")
    assert [(s.basis, s.rate) for s in second.slices] == [
        (D("10000"), D("0.05")),
        (D("20000"), D("0.08")),
    ]
    assert second.trueup == 0


def test_worked_example_retroactive_true_up_of_earlier_payments() -> None:
    pos = price_period(plan("retroactive", tiers=TIERS_5_8_10), [pay(1, "90000"), pay(2, "30000")])
    first, second = pos.lines
    assert first.amount == D("4500.00")
    assert second.amount == D("5100.00")
    assert second.own == D("2400.00")
    assert second.trueup == D("2700.00")
    assert pos.total == D("9600.00")


# --- features ------------------------------------------------------------------------------


def test_flat_plan_rounds_the_cumulative_total_once_per_line() -> None:
    pos = price_period(plan("flat"), [pay(i, "0.50") for i in range(10)])
    # 10 x 0.015: half-up per line would give 0.20; the cumulative total is exact: 0.15.
    assert pos.total == D("0.15")
    assert sum(line.amount for line in pos.lines) == pos.total


def test_late_payment_that_belongs_earlier_reprices_later_lines() -> None:
    rules = plan("graduated", tiers=TIERS_5_8_10)
    on_time = price_period(rules, [pay(2, "100000")])
    assert on_time.lines[0].amount == D("5000.00")
    late = price_period(rules, [pay(2, "100000"), pay(1, "50000")])
    by = late.by_credit()
    assert by["p0001"].amount == D("2500.00")  # first by payment time: the base rate
    assert by["p0002"].amount == D("2500.00") + D("4000.00")  # now crosses the quota
    assert late.total == D("9000.00")


def test_product_line_rate_replaces_the_tiers_but_counts_towards_attainment() -> None:
    rules = plan("graduated", tiers=TIERS_5_8_10, product_rates={"保险": "0.10"})
    pos = price_period(rules, [pay(1, "100000", product_line="保险"), pay(2, "10000")])
    first, second = pos.lines
    assert first.amount == D("10000.00") and first.rule.endswith("product_rate")
    assert second.amount == D("800.00")  # attainment already at quota: 8 %


def test_margin_basis_is_the_callers_credit_basis() -> None:
    # The service turns a payment into its margin share; the engine prices what it is given.
    pos = price_period(plan("flat", measure="margin"), [pay(1, "1234.56")])
    assert pos.total == D("37.04")


def test_caps_per_deal_and_per_period() -> None:
    rules = plan("flat", cap_per_deal="1000.00", cap_per_period="1500.00")
    pos = price_period(
        rules, [pay(1, "50000", deal="A"), pay(2, "10000", deal="A"), pay(3, "20000", deal="B")]
    )
    a1, a2, b = pos.lines
    assert a1.amount == D("1000.00") and "deal cap reached" in a1.notes
    assert a2.amount == D("0.00")
    assert b.amount == D("500.00") and "period cap reached" in b.notes
    assert pos.total == D("1500.00")


def test_minimum_attainment_pays_nothing_until_reached_then_everything() -> None:
    rules = plan("graduated", tiers=TIERS_5_8_10, minimum_attainment="0.3")
    pos = price_period(rules, [pay(1, "20000"), pay(2, "20000")])
    first, second = pos.lines
    assert first.amount == 0 and "below minimum attainment" in first.notes
    assert second.amount == D("2000.00")
    assert second.own == D("1000.00") and second.trueup == D("1000.00")


def test_kpi_gate_withholds_accelerators_below_threshold() -> None:
    rules = plan("graduated", tiers=TIERS_5_8_10, kpi_gate={"threshold": "0.9"})
    credits = [pay(1, "120000")]
    open_ = price_period(rules, credits, kpi_score=D("0.92"))
    shut = price_period(rules, credits, kpi_score=D("0.85"))
    unknown = price_period(rules, credits)
    assert open_.total == D("6600.00")  # 100k x 5 % + 20k x 8 %
    assert shut.total == unknown.total == D("6000.00")  # all at the base 5 %
    assert "accelerator withheld: KPI score below the gate" in shut.lines[0].notes


def test_decelerator_below_a_threshold_is_a_lower_first_tier() -> None:
    tiers = [{"from": "0", "rate": "0.01", "name": "decelerator"}, {"from": "0.6", "rate": "0.05"}]
    pos = price_period(plan("retroactive", tiers=tiers), [pay(1, "50000")])
    assert pos.total == D("500.00") and pos.tier == "decelerator"


def test_refund_within_window_claws_back_everything_and_later_half() -> None:
    rules = plan(
        "flat", clawback=[{"within_days": 90, "share": "1"}, {"within_days": 180, "share": "0.5"}]
    )
    base = [pay(1, "10000", deal="A")]
    full = price_period(rules, [*base, refund(2, "10000", "A", days=30)])
    half = price_period(rules, [*base, refund(2, "10000", "A", days=120)])
    none = price_period(rules, [*base, refund(2, "10000", "A", days=400)])
    assert full.total == 0
    assert half.lines[-1].amount == D("-150.00") and half.total == D("150.00")
    assert half.lines[-1].clawback_share == D("0.5")
    assert none.total == D("300.00")
    # the attainment drops all the same: the money was returned
    assert half.basis_total == none.basis_total == 0


def test_refund_then_same_payment_returns_to_the_same_total_even_outside_the_window() -> None:
    rules = plan(
        "flat", clawback=[{"within_days": 90, "share": "1"}, {"within_days": 180, "share": "0.5"}]
    )
    original = price_period(rules, [pay(1, "10000", deal="A")])
    again = price_period(
        rules,
        [
            pay(1, "10000", deal="A"),
            refund(2, "10000", "A", days=120),
            Credit("p9999", "A", "payment", D("10000"), CLOSED + dt.timedelta(days=130), CLOSED),
        ],
    )
    assert again.total == original.total == D("300.00")


def test_tiered_plan_without_quota_is_refused() -> None:
    with pytest.raises(PricingError):
        price_period(plan("graduated", tiers=TIERS_5_8_10, quota=None), [pay(1, "1")])
    assert price_period(
        plan("graduated", tiers=TIERS_5_8_10, quota=None), [pay(1, "100")], quota=D("1000")
    ).total == D("5.00")


@pytest.mark.parametrize(
    "bad",
    [
        {"tier_mode": "flat"},
        {"tier_mode": "graduated", "quota": "1"},
        {"tier_mode": "graduated", "tiers": [{"from": "0.1", "rate": "0.1"}]},
        {
            "tier_mode": "graduated",
            "tiers": [{"from": "0", "rate": "0.1"}, {"from": "0", "rate": "0.2"}],
        },
        {"tier_mode": "flat", "rate": "-0.1"},
        {"tier_mode": "flat", "rate": "0.1", "surprise": 1},
        {
            "tier_mode": "flat",
            "rate": "0.1",
            "clawback": [{"within_days": 180, "share": "0.5"}, {"within_days": 90, "share": "1"}],
        },
    ],
)
def test_inconsistent_plans_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        PlanRules.model_validate(bad)


def test_what_if_prices_without_changing_the_inputs() -> None:
    rules = plan("retroactive", tiers=TIERS_5_8_10)
    credits = [pay(1, "90000")]
    before, after, line = what_if(rules, credits, pay(2, "30000"))
    assert before.total == D("4500.00") and after.total == D("9600.00")
    assert line.amount == D("5100.00") and after.tier == "tier2"
    assert len(credits) == 1


# --- splits and quotas ---------------------------------------------------------------------


def test_split_leftover_fen_go_to_the_largest_remainders() -> None:
    assert split_amount(D("100.00"), [D("33.33"), D("33.33"), D("33.34")]) == [
        D("33.33"),
        D("33.33"),
        D("33.34"),
    ]
    assert split_amount(D("0.10"), [D("50"), D("25"), D("25")]) == [D("0.05"), D("0.03"), D("0.02")]
    assert split_amount(D("-0.10"), [D("50"), D("25"), D("25")]) == [
        D("-0.05"),
        D("-0.03"),
        D("-0.02"),
    ]


@pytest.mark.parametrize(
    "shares", [[D("50"), D("40")], [D("50"), D("50.01")], [D("100"), D("0")], []]
)
def test_split_shares_must_total_100(shares: list[D]) -> None:
    with pytest.raises(SplitError):
        split_amount(D("10"), shares)


def test_quota_prorated_for_a_mid_month_start_and_ramped_in_probation() -> None:
    hired = dt.date(2026, 11, 16)  # 15 of 30 days left
    assert effective_quota(D("100000"), "2026-11", hired_on=hired) == D("50000.00")
    assert effective_quota(D("100000"), "2026-11", hired_on=hired, ramp=[D("0.5"), D("0.75")]) == D(
        "25000.00"
    )
    assert effective_quota(D("100000"), "2026-12", hired_on=hired, ramp=[D("0.5"), D("0.75")]) == D(
        "75000.00"
    )
    assert effective_quota(D("100000"), "2027-01", hired_on=hired, ramp=[D("0.5"), D("0.75")]) == D(
        "100000.00"
    )
    assert effective_quota(D("100000"), "2026-10", hired_on=hired) == D("0.00")
    assert months_of_service(hired, "2027-01") == 3


# --- invariants ----------------------------------------------------------------------------

amounts = st.decimals(min_value=D("0.01"), max_value=D("300000"), places=2)
rates = st.decimals(min_value=0, max_value=D("0.2"), places=3)


@st.composite
def tiered_rules(draw: st.DrawFn, mode: str) -> PlanRules:
    n = draw(st.integers(1, 4))
    starts = sorted(
        set(
            draw(
                st.lists(
                    st.decimals(min_value=D("0.05"), max_value=2, places=2),
                    min_size=n - 1,
                    max_size=n - 1,
                )
            )
        )
    )
    tiers = [{"from": "0", "rate": str(draw(rates))}] + [
        {"from": str(s), "rate": str(draw(rates))} for s in starts
    ]
    return plan(
        mode, tiers=tiers, quota=str(draw(st.decimals(min_value=1000, max_value=500000, places=0)))
    )


@settings(max_examples=150, deadline=None)
@given(tiered_rules("graduated"), st.lists(amounts, min_size=1, max_size=12), amounts)
def test_graduated_total_never_falls_when_revenue_rises(
    rules: PlanRules, paid: list[D], more: D
) -> None:
    credits = [pay(i, a) for i, a in enumerate(paid)]
    base = price_period(rules, credits)
    higher = price_period(rules, [*credits, pay(len(paid), more)])
    assert higher.total >= base.total


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["graduated", "retroactive"]).flatmap(tiered_rules),
    st.lists(amounts, min_size=1, max_size=12),
    st.randoms(),
)
def test_lines_sum_to_the_total_and_order_of_arrival_does_not_matter(
    rules: PlanRules, paid: list[D], rnd
) -> None:  # type: ignore[no-untyped-def]
    credits = [pay(i, a) for i, a in enumerate(paid)]
    shuffled = list(credits)
    rnd.shuffle(shuffled)
    a = price_period(rules, credits)
    b = price_period(rules, shuffled)
    assert a == b
    assert sum(line.amount for line in a.lines) == a.total
    assert all(line.amount == line.amount.quantize(D("0.01")) for line in a.lines)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["graduated", "retroactive"]).flatmap(tiered_rules),
    st.lists(amounts, min_size=1, max_size=8),
    st.data(),
    st.integers(0, 400),
)
def test_refund_followed_by_the_same_payment_returns_the_total(
    rules: PlanRules, paid: list[D], data: st.DataObject, days: int
) -> None:
    rules = rules.model_copy(
        update={
            "clawback": PlanRules.model_validate(
                {
                    "tier_mode": "flat",
                    "rate": "0",
                    "clawback": [
                        {"within_days": 90, "share": "1"},
                        {"within_days": 180, "share": "0.5"},
                    ],
                }
            ).clawback
        }
    )
    credits = [pay(i, a) for i, a in enumerate(paid)]
    i = data.draw(st.integers(0, len(paid) - 1))
    target = credits[i]
    late = CLOSED + dt.timedelta(days=days + 1)
    again = [
        *credits,
        Credit("r-x", target.deal_id, "refund", -target.basis, late, CLOSED),
        Credit(
            "p-x", target.deal_id, "payment", target.basis, late + dt.timedelta(minutes=1), CLOSED
        ),
    ]
    assert price_period(rules, again).total == price_period(rules, credits).total


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=2),
    st.lists(st.integers(1, 10_000), min_size=1, max_size=7),
)
def test_splits_never_create_or_lose_a_fen(amount: D, weights: list[int]) -> None:
    total = sum(weights)
    shares = [D(w) * 100 / total for w in weights]
    shares = [s.quantize(D("0.0001")) for s in shares]
    shares[-1] += D(100) - sum(shares)
    if any(s <= 0 for s in shares):
        return
    parts = split_amount(amount, shares)
    assert sum(parts) == amount
    assert all(p == p.quantize(D("0.01")) for p in parts)
    exact = [amount * s / 100 for s in shares]
    assert all(abs(p - e) < D("0.01") for p, e in zip(parts, exact, strict=True))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["graduated", "retroactive"]).flatmap(tiered_rules),
    st.lists(amounts, min_size=1, max_size=10),
)
def test_replaying_a_reps_events_appends_nothing_and_gives_the_same_statement(
    rules: PlanRules, paid: list[D]
) -> None:
    """Price, store the lines, price again (a replay, or a late fact in between): the
    ledger's diff then appends exactly what changed and a second replay appends nothing."""
    import datetime as _dt
    from types import SimpleNamespace as StoredLine

    from zhanli_commission.commissions.pricing import PricingInputs, diff_lines
    from zhanli_commission.plans.service import ResolvedPlan
    from zhanli_shared.directory import Person

    person = Person("E1", "王伟", "T1", ["G1", "T1"], None, "salesperson", "active", None)
    plan_ = ResolvedPlan("P", 1, rules)
    credits = [
        dataclasses.replace(pay(i, a), credit_id=f"payment:p{i:04d}:E1") for i, a in enumerate(paid)
    ]
    now = _dt.datetime(2026, 12, 1, tzinfo=_dt.UTC)
    stored: list = []

    def step(cs: list[Credit], cause: frozenset[str] = frozenset()) -> list[dict]:
        inputs = PricingInputs(person, plan_, cs, rules.quota, None)
        position = price_period(rules, cs, quota=rules.quota)
        diff = diff_lines(
            "E1",
            "2026-11",
            inputs,
            position,
            stored,
            cause_event_id="e",
            currency="CNY",
            now=now,
            cause_credit_ids=cause,
        )
        stored.extend(
            StoredLine(
                kind=v["kind"], credit_id=v["credit_id"], amount=v["amount"], deal_id=v["deal_id"]
            )
            for v in diff.lines
        )
        assert sum(s.amount for s in stored) == position.total
        return diff.lines

    first = credits[: max(1, len(credits) - 1)]
    assert len(step(first, frozenset(c.credit_id for c in first))) == len(first)
    step(credits)  # one more fact, possibly earlier than the others
    assert step(credits) == []  # replay: nothing new
    assert step(list(reversed(credits))) == []


# --- the ledger's diff: re-pricing only when the rules move a credit ----------------------


def ledger_pay(i: int, amount: str | D, **kw: object) -> Credit:
    """A payment credit named as the ledger names them (``kind:fact:person``)."""
    return dataclasses.replace(pay(i, amount, **kw), credit_id=f"payment:p{i:05d}:E1")


def _ledger_steps(rules: PlanRules, arrivals: list[list[Credit]]) -> tuple[list[dict], list]:
    """Feed runs of credits to the ledger's diff one run at a time, as the consumer does;
    return every line appended and the stored lines, checking the total each time."""
    import datetime as _dt
    from types import SimpleNamespace as StoredLine

    from zhanli_commission.commissions.pricing import PricingInputs, diff_lines
    from zhanli_commission.plans.service import ResolvedPlan
    from zhanli_shared.directory import Person

    person = Person("E1", "王伟", "T1", ["G1", "T1"], None, "salesperson", "active", None)
    plan_ = ResolvedPlan("P", 1, rules)
    now = _dt.datetime(2026, 12, 1, tzinfo=_dt.UTC)
    stored: list = []
    appended: list[dict] = []
    seen: list[Credit] = []
    previous: dict[str, D] = {}
    for run in arrivals:
        seen += run
        inputs = PricingInputs(person, plan_, list(seen), rules.quota, None)
        position = price_period(rules, seen, quota=rules.quota)
        diff = diff_lines(
            "E1",
            "2026-11",
            inputs,
            position,
            stored,
            cause_event_id="e",
            currency="CNY",
            now=now,
            cause_credit_ids=frozenset(c.credit_id for c in run),
        )
        exact = {line.credit_id: line.exact for line in position.lines}
        for v in diff.lines:
            if v["kind"] == "repricing":  # only where the rules moved what the credit earns
                assert exact[v["credit_id"]] != previous.get(v["credit_id"]), v
        stored.extend(
            StoredLine(
                kind=v["kind"], credit_id=v["credit_id"], amount=v["amount"], deal_id=v["deal_id"]
            )
            for v in diff.lines
        )
        appended += diff.lines
        assert sum(s.amount for s in stored) == position.total  # exact, to the fen
        previous = exact
    return appended, stored


def test_mixed_order_payments_at_one_time_give_no_rounding_repricing() -> None:
    """The issue's run: many payments sharing one payment time, arriving in mixed id order
    (each a run of its own or a few together): one line each, no one-fen re-pricing, and the
    period sums exactly to 3 % of the money collected."""
    import random

    rnd = random.Random(7)
    credits = [
        ledger_pay(i, D(f"{100 + i % 900}.{i % 100:02d}"), occurred_at=T0) for i in range(1, 1201)
    ]
    rnd.shuffle(credits)
    runs, i = [], 0
    while i < len(credits):
        n = rnd.choice([1, 1, 1, 3, 7])
        runs.append(credits[i : i + n])
        i += n
    rules = plan("flat")
    appended, stored = _ledger_steps(rules, runs)
    assert [v for v in appended if v["kind"] == "repricing"] == []
    assert len(appended) == len(credits)
    total = sum((c.basis for c in credits), D(0)) * D("0.03")
    assert sum(s.amount for s in stored) == total.quantize(D("0.01"))
    exact = {c.credit_id: c.basis * D("0.03") for c in credits}
    assert all(abs(v["amount"] - exact[v["credit_id"]]) < D("0.01") for v in appended)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["flat", "graduated", "retroactive"]).flatmap(
        lambda m: st.just(plan("flat")) if m == "flat" else tiered_rules(m)
    ),
    st.lists(amounts, min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_repricing_lines_appear_only_when_the_rules_move_a_credit(
    rules: PlanRules, paid: list[D], rnd
) -> None:
    """Whatever the order and grouping of arrival: each re-pricing line is for a credit
    whose unrounded earnings moved, every stored credit stays within a fen of what the
    rules say it earns, and the lines always sum to the period total."""
    credits = [
        ledger_pay(i, a, occurred_at=T0 + dt.timedelta(minutes=i % 3)) for i, a in enumerate(paid)
    ]
    order = list(credits)
    rnd.shuffle(order)
    runs, i = [], 0
    while i < len(order):
        n = rnd.randint(1, 3)
        runs.append(order[i : i + n])
        i += n
    _, stored = _ledger_steps(rules, runs)
    final = price_period(rules, credits, quota=rules.quota)
    per: dict[str, D] = {}
    for s in stored:
        per[s.credit_id] = per.get(s.credit_id, D(0)) + s.amount
    for line in final.lines:
        assert abs(per.get(line.credit_id, D(0)) - line.exact) < D("0.02")
