"""The one way to read a whole number someone sent: form fields, query parameters, SCIM
paging and cursors, CLI options.

Python's own checks accept far more than a person types as a number: ``"²".isdigit()`` is
true but ``int("²")`` raises; ``int("٣")`` is 3 and ``int(" 1_0 ")`` is 10; and an integer
of any length reaches the database, where SQLite overflows past 64 bits and PostgreSQL's
``INTEGER`` columns past 2³¹−1. Each of these once answered 500. Here a number is ASCII
digits only (a leading ``-`` only where negatives are allowed), within explicit bounds,
and anything else is an :class:`InvalidNumber` naming the field.
"""

from __future__ import annotations

import re

from app.errors import InvalidInput

INTEGER_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL: ids, seats, counts
BIGINT_MAX = 2**63 - 1  # a BIGINT column, and SQLite's integers

_DIGITS = re.compile(r"-?[0-9]+", re.ASCII)


class InvalidNumber(InvalidInput):
    """Not a whole number within the field's bounds. ``field`` names it, as the person saw it."""

    def __init__(self, field: str, low: int, high: int) -> None:
        self.requirement = f"a whole number from {low} to {high}, in the digits 0-9"
        super().__init__(f"{field} must be {self.requirement}.")
        self.field = field


def whole_number(value: object, field: str, *, low: int = 0, high: int = INTEGER_MAX) -> int:
    """``value`` (text, or an integer already decoded from JSON) as an int in ``low..high``.

    Text may have surrounding white space, nothing else but ASCII digits (and a leading
    ``-`` when ``low`` is negative); it is never longer than the bounds allow, so no huge
    string is ever converted. ``True`` and ``False`` are not numbers.
    """
    if isinstance(value, bool):
        raise InvalidNumber(field, low, high)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        longest = max(len(str(low)), len(str(high)))
        if len(text) > longest or not _DIGITS.fullmatch(text) or (low >= 0 and "-" in text):
            raise InvalidNumber(field, low, high)
        number = int(text)
    else:
        raise InvalidNumber(field, low, high)
    if not low <= number <= high:
        raise InvalidNumber(field, low, high)
    return number
