"""The feedback loop's arithmetic: bands, retention at a horizon, suggestions."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from zhanli_talent.core import feedback
from zhanli_talent.core.feedback import Hire

TODAY = dt.date(2026, 12, 5)

hires = st.lists(
    st.builds(
        Hire,
        st.none() | st.floats(0, 100),
        st.sampled_from([None, "elimination", "review", "focus"]),
        st.dates(dt.date(2024, 1, 1), TODAY),
        st.none() | st.dates(dt.date(2024, 1, 1), TODAY),
        st.none() | st.floats(0, 2),
    ),
    max_size=60,
)


@given(hires)
def test_every_hire_is_counted_once_and_rates_are_rates(items: list[Hire]) -> None:
    rows = feedback.summarise(
        items,
        group="band",
        elimination_below=60,
        focus_above=80,
        horizon_days=180,
        performing_at=0.8,
        today=TODAY,
    )
    assert sum(int(r["hires"]) for r in rows) == len(items)  # type: ignore[call-overload]
    for r in rows:
        assert int(r["retained"]) <= int(r["known"]) <= int(r["hires"])  # type: ignore[call-overload]
        if r["retention_rate"] is not None:
            assert 0 <= float(r["retention_rate"]) <= 1  # type: ignore[arg-type]


def test_retention_needs_the_horizon_to_pass() -> None:
    start = dt.date(2026, 1, 1)
    assert feedback.retained(Hire(90, "focus", start, None, None), 180, TODAY) is True
    assert (
        feedback.retained(Hire(90, "focus", start, dt.date(2026, 3, 1), None), 180, TODAY) is False
    )
    assert (
        feedback.retained(Hire(90, "focus", dt.date(2026, 11, 1), None, None), 180, TODAY) is None
    )


def test_suggestions_follow_the_outcomes() -> None:
    def band(name: str, rate: float) -> dict[str, object]:
        return {"band": name, "known": 20, "retention_rate": rate, "reliable": True}

    ordered = feedback.suggestions([band("<60", 0.3), band("60-80", 0.5), band(">80", 0.7)], 60, 80)
    assert any("2.3x" in s for s in ordered)
    flat = feedback.suggestions([band("<60", 0.5), band("60-80", 0.5), band(">80", 0.5)], 60, 80)
    assert any("focus_above" in s for s in flat) and any("elimination_below" in s for s in flat)
    few = feedback.suggestions([band(">80", 0.5)], 60, 80)
    assert "Not enough" in few[0]
