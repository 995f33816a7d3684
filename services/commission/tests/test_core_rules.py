"""Pure rules beside the pricing engine, property-tested: plan choice, quotas, draws,
payout splits, probation targets; and the concept packages import each other one way."""

from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal as D
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import zhanli_commission
from zhanli_commission.core.assignment import choose_plan, covers, period_quota, targets_of
from zhanli_commission.core.draws import draw_effect, payout_split
from zhanli_commission.core.plan import PlanRules, ProbationTargets
from zhanli_commission.core.probation import on_probation, probation_reward, probation_target
from zhanli_commission.core.quotas import months_of_service

money = st.decimals(min_value=D("-50000"), max_value=D("50000"), places=2)
positive = st.decimals(min_value=D("0"), max_value=D("50000"), places=2)
periods = st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(2024, 2028), st.integers(1, 12))


# --- plan choice and quota ------------------------------------------------------------------


@given(
    st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=0, max_size=4, unique=True),
    st.dictionaries(
        st.tuples(st.sampled_from(["person", "unit", "role"]), st.text("abcdefE", max_size=3)),
        st.text("PQR", min_size=1, max_size=2),
        max_size=6,
    ),
)
def test_the_most_specific_assignment_wins(org_path: list[str], assigned: dict) -> None:
    targets = targets_of("E", org_path, "rep")
    chosen = choose_plan(targets, assigned)
    reaching = [t for t in targets if t in assigned]
    if not reaching:
        assert chosen is None
        return
    assert chosen == assigned[reaching[0]]
    if ("person", "E") in assigned:
        assert chosen == assigned[("person", "E")]
    elif any(("unit", u) in assigned for u in org_path):
        deepest = next(u for u in reversed(org_path) if ("unit", u) in assigned)
        assert chosen == assigned[("unit", deepest)]


@given(periods, periods, st.one_of(st.none(), periods))
def test_an_assignment_covers_its_months_inclusive(
    period: str, start: str, end: str | None
) -> None:
    assert covers(start, end, period) == (start <= period and (end is None or period <= end))


@settings(max_examples=200)
@given(
    st.one_of(st.none(), positive),
    st.one_of(st.none(), st.decimals(min_value=D("1"), max_value=D("500000"), places=2)),
    periods,
    st.one_of(st.none(), st.dates(dt.date(2023, 1, 1), dt.date(2029, 1, 1))),
    st.lists(st.decimals(min_value=D("0.1"), max_value=D("1"), places=2), max_size=3),
)
def test_a_quota_is_the_persons_own_else_the_plans_never_above_it(
    own, plan_quota, period, hired_on, ramp
) -> None:
    quota, source = period_quota(own, plan_quota, period, hired_on=hired_on, ramp=ramp)
    if own is not None:
        assert (quota, source) == (own, "person")
    elif plan_quota is None:
        assert (quota, source) == (None, "plan")
    else:
        assert source == "plan" and quota is not None and D(0) < quota <= plan_quota
        if hired_on is None or months_of_service(hired_on, period) > len(ramp) + 1:
            assert quota == plan_quota  # past the ramp and the joining month: the full quota


# --- draws and payouts ---------------------------------------------------------------------


def _draw(kind: str, amount: str = "3000.00", months: int = 3) -> PlanRules:
    return PlanRules.model_validate(
        {
            "tier_mode": "flat",
            "rate": "0.03",
            "draw": {"kind": kind, "amount": amount, "months": months},
        }
    )


@settings(max_examples=300)
@given(
    st.sampled_from(["recoverable", "non_recoverable"]),
    st.one_of(st.none(), st.integers(0, 8)),
    money,
    st.decimals(min_value=D("0"), max_value=D("20000"), places=2),
)
def test_a_draw_tops_up_to_the_guarantee_and_recovers_no_more_than_owed(
    kind: str, month: int | None, earnings: D, balance: D
) -> None:
    rules = _draw(kind)
    effect = draw_effect(rules, month, earnings, balance)
    in_window = month is not None and 1 <= month <= 3
    assert effect.in_window == in_window
    assert effect.top_up >= 0 and effect.recovery >= 0
    assert not (effect.top_up and effect.recovery)  # never both in one period
    if in_window:
        assert earnings + effect.top_up >= D("3000.00") or effect.top_up == 0
        assert effect.top_up == max(D("3000.00") - earnings, D(0))
    else:
        assert effect.top_up == 0
    assert effect.recovery <= balance
    threshold = D("3000.00") if in_window else D(0)
    assert effect.recovery <= max(earnings - threshold, D(0))
    owed = effect.top_up if kind == "recoverable" else D(0)
    assert effect.balance_after == balance + owed - effect.recovery
    assert effect.balance_after >= 0


@given(money, st.decimals(min_value=D("-20000"), max_value=D("0"), places=2))
def test_a_payout_pays_what_is_positive_and_carries_the_rest_to_the_fen(
    total: D, carried_in: D
) -> None:
    paid, carried = payout_split(total, carried_in)
    assert paid + carried == total + carried_in  # nothing created, nothing dropped
    assert paid >= 0 and carried <= 0
    assert paid == 0 or carried == 0


# --- probation targets -----------------------------------------------------------------------

signal = st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("1"), places=3))


@given(signal, signal, st.integers(0, 10))
def test_probation_target_follows_the_signals_and_only_a_met_raised_target_pays(
    skill, growth, deals
) -> None:
    cfg = ProbationTargets()
    target, adjustment = probation_target(cfg, skill, growth)
    if growth is not None and growth > D("0.05"):
        assert (target, adjustment) == (4, "raised")  # the raised target wins
    elif skill is not None and skill > D("0.10"):
        assert (target, adjustment) == (2, "lowered")
    else:
        assert (target, adjustment) == (3, "default")
    met, reward = probation_reward(cfg, target, adjustment, deals)
    assert met == (deals >= target)
    assert reward == (D("1000.00") if adjustment == "raised" and met else D(0))


@given(st.sampled_from(["probation", "active"]), st.one_of(st.none(), st.integers(0, 12)))
def test_probation_lasts_the_configured_months(status: str, month: int | None) -> None:
    cfg = ProbationTargets(months=3)
    expected = (month is None or month <= 3) and (
        status == "probation" or (month is not None and 1 <= month <= 3)
    )
    assert on_probation(cfg, status, month) == expected


# --- concept packages import one way ---------------------------------------------------------

PACKAGE = Path(zhanli_commission.__file__).parent
CONCEPTS = ("core", "plans", "sales", "commissions", "statements", "payouts", "disputes")


def _imports() -> dict[str, set[str]]:
    """Concept package -> the other concept packages its modules import."""
    graph: dict[str, set[str]] = {c: set() for c in CONCEPTS}
    for concept in CONCEPTS:
        for path in (PACKAGE / concept).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "zhanli_commission" and len(parts) > 1:
                        if parts[1] in CONCEPTS and parts[1] != concept:
                            graph[concept].add(parts[1])
    return graph


def test_concept_packages_have_no_import_cycle() -> None:
    graph = _imports()
    assert graph["core"] == set(), "core/ is pure: it imports no concept package"

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*path, start]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in (cycle_from(p) for p in CONCEPTS) if c]
    assert not cycles, f"import cycles between concept packages: {cycles}"
