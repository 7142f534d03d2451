"""Calendar arithmetic of an annual term (R6).

Months are anchored on the term's start day: a term starting on 31 January has month
boundaries on 28/29 February, 31 March, 30 April… (each computed from the start, clamped to
the month's end, never chained from the previous boundary). A month that has started counts
whole, so a purchase on the first day of a month pays for that month, as does one on its
last day. Dates are UTC calendar dates.
"""

from __future__ import annotations

import calendar
import datetime as dt

TERM_MONTHS = 12


def add_months(start: dt.date, months: int) -> dt.date:
    """``start`` moved by ``months`` calendar months, its day clamped to the target month."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def term_end(term_start: dt.date) -> dt.date:
    """The first day after a one-year term (exclusive end)."""
    return add_months(term_start, TERM_MONTHS)


def months_remaining(term_start: dt.date, on: dt.date) -> int:
    """Months of the term not yet fully elapsed on ``on`` (12 before the term starts, 0 after).

    >>> months_remaining(dt.date(2026, 1, 1), dt.date(2026, 3, 1))
    10
    >>> months_remaining(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    1
    """
    elapsed = 0
    while elapsed < TERM_MONTHS and add_months(term_start, elapsed + 1) <= on:
        elapsed += 1
    return TERM_MONTHS - elapsed
