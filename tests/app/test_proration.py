"""R6: prorating added seats over the months of the term not yet fully elapsed."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.proration import add_months, months_remaining, term_end

D = dt.date


@pytest.mark.parametrize(
    ("start", "on", "months"),
    [
        (D(2026, 1, 1), D(2026, 3, 1), 10),  # the article's example
        (D(2026, 1, 1), D(2026, 3, 15), 10),  # a started month counts whole
        (D(2026, 1, 1), D(2026, 2, 28), 11),
        (D(2026, 1, 1), D(2026, 12, 31), 1),  # last month of the term
        (D(2026, 1, 1), D(2026, 12, 1), 1),
        (D(2026, 1, 1), D(2026, 1, 1), 12),  # first day of the term
        (D(2026, 1, 1), D(2025, 12, 1), 12),  # before the term starts
        (D(2026, 1, 1), D(2027, 1, 1), 0),  # the term is over
        (D(2026, 1, 31), D(2026, 2, 27), 12),  # boundary clamps to 28 Feb
        (D(2026, 1, 31), D(2026, 2, 28), 11),
        (D(2026, 1, 31), D(2026, 3, 30), 11),  # anchored on the 31st, not chained from 28th
        (D(2026, 1, 31), D(2026, 3, 31), 10),
        (D(2028, 1, 30), D(2028, 2, 29), 11),  # leap year: 29 Feb is the boundary
        (D(2028, 1, 29), D(2028, 2, 28), 12),
        (D(2028, 1, 29), D(2028, 2, 29), 11),
        (D(2027, 3, 29), D(2028, 2, 29), 1),  # Feb of a leap year in the last month
        (D(2026, 8, 31), D(2026, 9, 30), 11),
        (D(2026, 8, 31), D(2027, 8, 30), 1),
    ],
)
def test_months_remaining(start: dt.date, on: dt.date, months: int) -> None:
    assert months_remaining(start, on) == months


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (D(2026, 1, 1), D(2027, 1, 1)),
        (D(2028, 2, 29), D(2029, 2, 28)),  # a leap-day start ends on the 28th
        (D(2026, 3, 31), D(2027, 3, 31)),
    ],
)
def test_term_is_one_year(start: dt.date, end: dt.date) -> None:
    assert term_end(start) == end


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2026, 1, 31), 3) == D(2026, 4, 30)
    assert add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)


dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))


@given(start=dates, offset=st.integers(min_value=-400, max_value=800))
def test_remaining_months_is_between_0_and_12(start: dt.date, offset: int) -> None:
    on = start + dt.timedelta(days=offset)
    remaining = months_remaining(start, on)
    assert 0 <= remaining <= 12
    assert (remaining == 0) == (on >= term_end(start))


@given(start=dates, a=st.integers(0, 400), b=st.integers(0, 400))
def test_later_purchases_never_pay_more(start: dt.date, a: int, b: int) -> None:
    first, second = sorted((a, b))
    assert months_remaining(start, start + dt.timedelta(days=first)) >= months_remaining(
        start, start + dt.timedelta(days=second)
    )


@given(start=dates, k=st.integers(0, 11))
def test_each_month_boundary_drops_exactly_one_month(start: dt.date, k: int) -> None:
    boundary = add_months(start, k + 1)
    assert months_remaining(start, boundary - dt.timedelta(days=1)) == 12 - k
    assert months_remaining(start, boundary) == 12 - k - 1
