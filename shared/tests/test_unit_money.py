"""money.round_money and money.business_month."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from zhanli_shared.money import FEN, business_month, round_money

D = Decimal


@pytest.mark.parametrize(
    ("amount", "half_up", "half_even"),
    [
        ("0.005", "0.01", "0.00"),
        ("0.015", "0.02", "0.02"),
        ("0.025", "0.03", "0.02"),
        ("2.665", "2.67", "2.66"),
        ("2.675", "2.68", "2.68"),
        ("-0.005", "-0.01", "-0.00"),
        ("-2.665", "-2.67", "-2.66"),
        ("12345678901234.565", "12345678901234.57", "12345678901234.56"),
        ("1.004999", "1.00", "1.00"),
        ("1.005001", "1.01", "1.01"),
        ("7", "7.00", "7.00"),
    ],
)
def test_round_money_half_up_and_half_even(amount: str, half_up: str, half_even: str) -> None:
    up = round_money(D(amount))
    even = round_money(D(amount), mode="half_even")
    assert (str(up), str(even)) == (half_up, half_even)
    assert round_money(D(amount), mode="half_up") == up  # half-up is the default
    assert up.as_tuple().exponent == even.as_tuple().exponent == -2


def test_round_money_other_quantum_and_unknown_mode() -> None:
    assert round_money(D("12.5"), quantum=D("1")) == D("13")
    assert round_money(D("12.5"), quantum=D("1"), mode="half_even") == D("12")
    assert FEN == D("0.01")
    with pytest.raises(KeyError):
        round_money(D("1.005"), mode="truncate")


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (dt.datetime(2026, 11, 30, 15, 59, 59, tzinfo=dt.UTC), "2026-11"),  # 23:59:59 Shanghai
        (dt.datetime(2026, 11, 30, 16, 0, 0, tzinfo=dt.UTC), "2026-12"),  # 00:00 Shanghai
        (dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC), "2026-12"),
        (dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC), "2027-01"),  # the year turns too
        (dt.datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai")), "2026-12"),
        (dt.datetime(2026, 12, 1, 7, 0, tzinfo=ZoneInfo("America/New_York")), "2026-12"),
        (dt.datetime(2026, 11, 30, 11, 0, tzinfo=ZoneInfo("America/New_York")), "2026-12"),
    ],
)
def test_business_month_is_the_shanghai_month(moment: dt.datetime, month: str) -> None:
    assert business_month(moment) == month


def test_business_month_other_time_zone() -> None:
    moment = dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)
    assert business_month(moment, tz="UTC") == "2026-11"
    assert business_month(moment, tz="Asia/Shanghai") == "2026-12"


def test_business_month_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        business_month(dt.datetime(2026, 11, 30, 16, 30))
