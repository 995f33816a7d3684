"""``audit.jsonable`` takes the exact common types (str, int, bool, None, Decimal, dict,
list) on a fast path: the values it gives are those of the general path, whatever the
nesting; subclasses (an IntEnum, a StrEnum) still go the general way."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import IntEnum, StrEnum

from hypothesis import given
from hypothesis import strategies as st

from zhanli_shared.audit import _jsonable, jsonable

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=20,
)


@given(values)
def test_the_fast_path_gives_what_the_general_path_gives(value: object) -> None:
    assert jsonable(value) == _jsonable(value)


class Level(IntEnum):
    HIGH = 3


class Kind(StrEnum):
    PAYMENT = "payment"


def test_subclasses_of_the_fast_types_go_the_general_way() -> None:
    assert jsonable({"level": Level.HIGH, "kind": Kind.PAYMENT}) == _jsonable(
        {"level": Level.HIGH, "kind": Kind.PAYMENT}
    )
    assert jsonable([Decimal("1.50"), True, None]) == ["1.50", True, None]
