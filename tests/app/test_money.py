"""I5: money is integers of minor units, parsed and printed exactly."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidInput
from app.money import format_minor, normalize_currency, parse_price


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("30.00", "USD", 3000),
        ("30", "USD", 3000),
        ("0.01", "EUR", 1),
        ("1500", "JPY", 1500),
        ("1.234", "BHD", 1234),
        ("0", "USD", 0),
    ],
)
def test_parse_price(text: str, currency: str, minor: int) -> None:
    assert parse_price(text, currency) == minor


@pytest.mark.parametrize("text", ["-1", "abc", "1.001", "NaN", "Infinity", "", "1e30", "1,00"])
def test_bad_prices_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_price(text, "USD")


def test_yen_has_no_decimals() -> None:
    with pytest.raises(InvalidInput, match="more than 0 decimals"):
        parse_price("10.5", "JPY")


def test_currency_codes() -> None:
    assert normalize_currency("usd") == "USD"
    for bad in ("", "US", "XYZ", "dollars"):
        with pytest.raises(InvalidInput):
            normalize_currency(bad)


@given(st.integers(min_value=0, max_value=10**12))
def test_format_then_parse_round_trips(minor: int) -> None:
    for currency in ("USD", "JPY", "BHD"):
        assert parse_price(format_minor(minor, currency), currency) == minor


def test_format_examples() -> None:
    assert format_minor(150000, "USD") == "1500.00"
    assert format_minor(5, "USD") == "0.05"
    assert format_minor(1500, "JPY") == "1500"
