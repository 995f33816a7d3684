from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhanli_commission.core.rates import flat_rate_commission


def test_flat_rate_rounds_once_to_the_fen_half_up() -> None:
    assert flat_rate_commission(Decimal("1.50"), Decimal("0.03")) == Decimal("0.05")
    assert flat_rate_commission(Decimal("1.50"), Decimal("0.03"), rounding="half_even") == Decimal(
        "0.04"
    )
    assert flat_rate_commission(Decimal("53400.00"), Decimal("0.03")) == Decimal("1602.00")


def test_negative_basis_is_refused() -> None:
    with pytest.raises(ValueError):
        flat_rate_commission(Decimal("-1"), Decimal("0.03"))


@given(
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.decimals(min_value=0, max_value=1, places=4),
)
def test_flat_rate_is_within_half_a_fen_of_the_exact_product(basis: Decimal, rate: Decimal) -> None:
    got = flat_rate_commission(basis, rate)
    assert got == got.quantize(Decimal("0.01"))
    assert abs(got - basis * rate) <= Decimal("0.005")
