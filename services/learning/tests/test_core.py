"""The pure learning rules: the prerequisite graph, gaps, paths and their schedule, progress
and the mentor programme (hypothesis properties plus DOMAIN.md section 2's examples)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhanli_learning.core.graph import (
    CycleError,
    UnknownCourseError,
    check_graph,
    find_cycle,
    topological,
)
from zhanli_learning.core.mentoring import below_threshold, rating_average, weekly_tasks
from zhanli_learning.core.paths import (
    Catalogue,
    Course,
    LoadPolicy,
    gaps,
    generate_path,
    naive_path,
)
from zhanli_learning.core.progress import (
    Score,
    completion_rate,
    overdue_stage,
    weekly_improvement,
)

START = dt.date(2026, 11, 2)


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 25) -> dict[str, set[str]]:
    """A random DAG: a node only needs nodes with a smaller index."""
    n = draw(st.integers(1, max_nodes))
    names = [f"C{i:03d}" for i in range(n)]
    graph: dict[str, set[str]] = {}
    for i, name in enumerate(names):
        graph[name] = set(draw(st.lists(st.sampled_from(names[:i]), max_size=3))) if i else set()
    return graph


@given(dags())
def test_a_dag_has_no_cycle_and_sorts_prerequisites_first(graph: dict[str, set[str]]) -> None:
    assert find_cycle(graph) is None
    check_graph(graph)
    order = topological(graph, graph)
    assert sorted(order) == sorted(graph)
    at = {c: i for i, c in enumerate(order)}
    assert all(at[p] < at[c] for c in graph for p in graph[c])


@given(dags(), st.data())
def test_closing_a_loop_is_refused_naming_the_cycle(graph: dict[str, set[str]], data) -> None:
    names = sorted(graph)
    a = data.draw(st.sampled_from(names))
    b = data.draw(st.sampled_from(names))
    # add b -> ... -> a path then a -> b: make a need b where b (transitively) needs a
    graph = {k: set(v) for k, v in graph.items()}
    graph[b].add(a)
    if a != b:
        graph[a].add(b)
    with pytest.raises(CycleError) as err:
        check_graph(graph)
    cycle = err.value.cycle
    assert cycle[0] == cycle[-1] and len(cycle) >= 2
    for x, y in itertools.pairwise(cycle):
        assert y in graph[x]  # every step of the named cycle is a real edge
    assert " -> ".join(cycle) in str(err.value)


def test_unknown_prerequisite_is_named() -> None:
    with pytest.raises(UnknownCourseError) as err:
        check_graph({"A": {"B"}})
    assert err.value.missing == "B" and err.value.course == "A"


def test_a_long_chain_does_not_recurse() -> None:
    graph = {f"C{i}": ({f"C{i - 1}"} if i else set()) for i in range(5000)}
    graph["C0"] = {"C4999"}
    assert len(find_cycle(graph) or []) == 5001


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 100)),
    st.dictionaries(st.sampled_from("abcdefg"), st.integers(0, 100)),
)
def test_gaps_are_what_is_missing(required: dict[str, int], assessed: dict[str, int]) -> None:
    g = gaps(required, assessed)
    for skill, level in required.items():
        missing = level - assessed.get(skill, 0)
        assert g.get(skill, 0) == max(0, missing)
    assert set(g) <= set(required)


@st.composite
def catalogues(draw: st.DrawFn) -> tuple[Catalogue, dict[str, int], dict[str, int]]:
    graph = draw(dags(30))
    skills = ["s1", "s2", "s3", "s4"]
    courses = []
    for cid, pre in graph.items():
        gains = draw(st.dictionaries(st.sampled_from(skills), st.integers(0, 40), max_size=2))
        courses.append(
            Course(
                cid,
                hours=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0, 6.0, 12.0])),
                gains=gains,
                prerequisites=frozenset(pre),
                required_for=frozenset({"sales"}) if draw(st.integers(0, 9)) == 0 else frozenset(),
            )
        )
    profile = draw(st.dictionaries(st.sampled_from(skills), st.integers(0, 100), min_size=1))
    assessed = draw(st.dictionaries(st.sampled_from(skills), st.integers(0, 100)))
    return Catalogue(courses), profile, assessed


@settings(max_examples=150, deadline=None)
@given(catalogues(), st.sampled_from([None, 50, 90]), st.sampled_from([30, 60, 90, 180]))
def test_paths_close_gaps_in_prerequisite_order_at_a_sustainable_load(
    case: tuple[Catalogue, dict[str, int], dict[str, int]], agility: int | None, days: int
) -> None:
    cat, profile, assessed = case
    policy = LoadPolicy(probation_days=days)
    path = generate_path(cat, "sales", profile, assessed, START, agility=agility, policy=policy)
    ids = [i.course_id for i in path.items]
    assert len(ids) == len(set(ids))
    at = {c: i for i, c in enumerate(ids)}
    # every prerequisite of a chosen course is in the path, earlier, and due before it starts
    for item in path.items:
        for p in cat.courses[item.course_id].prerequisites:
            assert p in at and at[p] < at[item.course_id]
            assert path.items[at[p]].due_on <= item.due_on
            assert path.items[at[p]].start_on <= item.start_on
    # required courses are always there
    assert set(cat.required_for("sales")) <= set(ids)
    # the open gaps are what the catalogue cannot close; everything else was closed
    g = gaps(profile, assessed)
    assert path.gaps == g
    closed = {s: 0 for s in g}
    for item in path.items:
        for s, pts in item.closes.items():
            closed[s] += pts
    for s in g:
        assert closed[s] + path.open_gaps.get(s, 0) == g[s]
        if path.open_gaps.get(s):  # no course left could close any of it
            assert all(c in at for c in cat.by_skill.get(s, []))
    # no course is there without a reason: required, a gap it closes, or a prerequisite
    for item in path.items:
        assert item.reason in {"required", "gap", "prerequisite"}
        if item.reason == "gap":
            assert item.closes
    # the weekly load is sustainable and the schedule respects it
    assert path.weekly_hours <= policy.max_hours
    base = policy.fast_hours if (agility or 0) >= policy.fast_learner_at else policy.base_hours
    assert path.weekly_hours >= min(base, policy.max_hours)
    for item in path.items:
        assert item.start_on <= item.due_on
    if (
        path.total_hours <= policy.max_hours * days / 7 - 1e-9
        and path.weekly_hours < policy.max_hours
    ):
        assert path.fits_in_probation
    for item in path.items:
        if item.within_probation:
            assert item.due_on <= path.probation_ends_on


@settings(max_examples=60, deadline=None)
@given(catalogues())
def test_the_naive_path_takes_every_course_of_the_family(
    case: tuple[Catalogue, dict[str, int], dict[str, int]],
) -> None:
    cat, profile, assessed = case
    path = generate_path(cat, "sales", profile, assessed, START)
    naive = naive_path(cat, "sales", profile, START)
    assert {i.course_id for i in path.items} <= {i.course_id for i in naive.items}


def test_packing_respects_the_weekly_load() -> None:
    courses = [Course(f"C{i}", hours=3.0, gains={"s": 10}) for i in range(6)]
    cat = Catalogue(courses)
    path = generate_path(cat, "f", {"s": 60}, {}, START, policy=LoadPolicy(base_hours=5.0))
    assert path.weekly_hours == 5.0
    # 18 h at 5 h a week, packed in order; a course spans weeks; each is due on a Sunday
    starts = [(i.start_on - START).days for i in path.items]
    dues = [(i.due_on - START).days for i in path.items]
    assert starts == [0, 0, 7, 7, 14, 21]
    assert dues == [6, 13, 13, 20, 20, 27]
    assert path.fits_in_probation


def test_too_much_for_the_probation_raises_the_load_then_flags_what_is_left() -> None:
    courses = [Course(f"C{i:02d}", hours=20.0, gains={"s": 5}) for i in range(20)]
    cat = Catalogue(courses)
    path = generate_path(cat, "f", {"s": 100}, {}, START)
    assert path.weekly_hours == LoadPolicy().max_hours
    assert not path.fits_in_probation
    late = [i for i in path.items if not i.within_probation]
    assert late and all(i.due_on > path.probation_ends_on for i in late)
    assert all(i.within_probation for i in path.items[: len(path.items) - len(late)])


# --- DOMAIN.md section 2: the examples come out of the rules --------------------------

PROFILE = {  # the e-commerce salesperson's competency profile (0-100)
    "sales_basics": 60,
    "prospecting": 60,
    "negotiation": 60,
    "industry_knowledge": 60,
    "platform_rules": 70,
    "online_communication": 70,
    "live_selling": 60,
    "product_knowledge": 60,
}


def example_catalogue() -> Catalogue:
    def c(
        cid: str, hours: float, gains: dict[str, int], pre: tuple[str, ...] = (), **kw: Any
    ) -> Course:
        return Course(cid, hours=hours, gains=gains, prerequisites=frozenset(pre), **kw)

    return Catalogue(
        [
            c("ORIENT", 2, {}, required_for=frozenset({"salesperson"})),
            c("SALES-101", 4, {"sales_basics": 40}),
            c("PROSPECT", 4, {"prospecting": 40}, ("SALES-101",)),
            c("NEGOTIATE", 4, {"negotiation": 40}, ("SALES-101",)),
            c(
                "SHADOW",
                6,
                {"prospecting": 25, "negotiation": 25},
                ("SALES-101",),
                format="mentor_task",
            ),
            c("INDUSTRY", 5, {"industry_knowledge": 45}),
            c("PRODUCT", 4, {"product_knowledge": 50}),
            c("PLATFORM", 3, {"platform_rules": 50}),
            c("PLATFORM-ADV", 3, {"platform_rules": 30}, ("PLATFORM",)),
            c("ONLINE-COMM", 3, {"online_communication": 50}),
            c("ONLINE-COMM-2", 3, {"online_communication": 30}, ("ONLINE-COMM",)),
            c("LIVE", 4, {"live_selling": 50}, ("ONLINE-COMM",)),
            c("LIVE-2", 3, {"live_selling": 20}, ("LIVE",)),
            c("RETAIL-FLOOR", 4, {"sales_basics": 20}),
        ]
    )


def test_retail_experienced_but_new_to_ecommerce_learns_the_online_side() -> None:
    assessed = {
        "sales_basics": 85, "prospecting": 75, "negotiation": 80, "industry_knowledge": 70,
        "product_knowledge": 65, "platform_rules": 10, "online_communication": 20,
        "live_selling": 0,
    }  # fmt: skip
    path = generate_path(example_catalogue(), "salesperson", PROFILE, assessed, START)
    ids = [i.course_id for i in path.items]
    assert {"PLATFORM", "ONLINE-COMM", "LIVE"} <= set(ids)  # rules, communication, live-stream
    assert not {"SALES-101", "PROSPECT", "NEGOTIATE", "SHADOW", "INDUSTRY"} & set(ids)
    assert ids.index("ONLINE-COMM") < ids.index("LIVE")
    assert path.open_gaps == {} and path.fits_in_probation


def test_no_sales_experience_but_a_fast_learner_starts_with_sales_basics_and_mentor_tasks() -> None:
    assessed = {
        "sales_basics": 10, "prospecting": 5, "negotiation": 5, "industry_knowledge": 20,
        "product_knowledge": 70, "platform_rules": 75, "online_communication": 75,
        "live_selling": 65,
    }  # fmt: skip
    cat = example_catalogue()
    path = generate_path(cat, "salesperson", PROFILE, assessed, START, agility=90)
    ids = [i.course_id for i in path.items]
    assert {"SALES-101", "PROSPECT", "NEGOTIATE", "INDUSTRY"} <= set(ids)
    assert any(cat.courses[c].format == "mentor_task" for c in ids)  # mentor tasks
    assert not {"PLATFORM", "ONLINE-COMM", "LIVE"} & set(ids)
    assert ids.index("SALES-101") < min(ids.index("PROSPECT"), ids.index("NEGOTIATE"))
    assert path.weekly_hours == LoadPolicy().fast_hours  # a fast learner's week
    slow = generate_path(cat, "salesperson", PROFILE, assessed, START)
    assert slow.weekly_hours == LoadPolicy().base_hours
    assert slow.items[-1].due_on >= path.items[-1].due_on


def test_required_courses_come_whatever_the_assessment() -> None:
    full = {k: 100 for k in PROFILE}
    path = generate_path(example_catalogue(), "salesperson", PROFILE, full, START)
    assert [i.course_id for i in path.items] == ["ORIENT"]


# --- progress and mentoring -----------------------------------------------------------


@given(st.integers(0, 50), st.integers(0, 50))
def test_completion_rate_is_a_share(done: int, extra: int) -> None:
    rate = completion_rate(done, done + extra)
    assert Decimal(0) <= rate <= Decimal(1)
    if done + extra:
        assert abs(rate - Decimal(done) / (done + extra)) < Decimal("0.0001")


@given(st.integers(-10, 20), st.booleans())
def test_overdue_reminds_then_escalates(days_late: int, completed: bool) -> None:
    due = dt.date(2026, 11, 10)
    stage = overdue_stage(due, due + dt.timedelta(days=days_late), completed, 3)
    if completed or days_late <= 0:
        assert stage == "none"
    elif days_late <= 3:
        assert stage == "remind"
    else:
        assert stage == "escalate"


def test_weekly_improvement_from_reassessments() -> None:
    monday = dt.date(2026, 11, 9)  # 2026-W46
    scores = [
        Score("sales", 50, monday - dt.timedelta(days=10)),
        Score("industry", 50, monday - dt.timedelta(days=10)),
        Score("sales", 60, monday + dt.timedelta(days=2)),
        Score("industry", 55, monday + dt.timedelta(days=3)),
    ]
    assert weekly_improvement(scores, "2026-W46") == Decimal("0.15")
    assert weekly_improvement(scores[:2], "2026-W46") is None  # nothing re-assessed
    assert weekly_improvement(scores[2:], "2026-W46") is None  # only a baseline


@given(
    st.lists(st.integers(1, 100), min_size=1, max_size=5),
    st.lists(st.integers(1, 100), min_size=5, max_size=5),
)
def test_improvement_is_relative_to_the_week_before(before: list[int], after: list[int]) -> None:
    monday = dt.date(2026, 11, 9)
    scores = [Score(f"s{i}", v, monday - dt.timedelta(days=1)) for i, v in enumerate(before)]
    scores += [Score(f"s{i}", after[i], monday) for i in range(len(before))]
    value = weekly_improvement(scores, "2026-W46")
    expected = Decimal(sum(after[: len(before)]) - sum(before)) / Decimal(sum(before))
    assert value is not None and abs(value - expected) < Decimal("0.000001")
    assert (value > 0) == (sum(after[: len(before)]) > sum(before))


def test_mentor_week_and_ratings() -> None:
    tasks = weekly_tasks(dt.date(2026, 11, 9))
    assert [k for k, _ in tasks] == ["client_visit", "review_coaching", "performance_talk"]
    assert all(d == dt.date(2026, 11, 15) for _, d in tasks)
    assert rating_average({}) is None
    assert rating_average({"a": 6, "b": 7}) == Decimal("6.50")
    assert below_threshold(Decimal("6.50")) and not below_threshold(Decimal("7.00"))
