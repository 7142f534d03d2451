"""The one reading of a whole number, and of a JSON body: properties over any input."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.json_input import MAX_DEPTH, MalformedJson, parse_json
from app.whole_numbers import BIGINT_MAX, INTEGER_MAX, InvalidNumber, whole_number

# Every character Unicode calls a digit or a number other than 0-9: ², ٣, ५, ½, Ⅻ, …
OTHER_DIGITS = st.characters(categories=["Nd", "No", "Nl"]).filter(lambda c: c not in "0123456789")


@given(st.text())
def test_any_text_is_a_number_in_bounds_or_refused_by_name(text: str) -> None:
    try:
        number = whole_number(text, "Seats", high=INTEGER_MAX)
    except InvalidNumber as error:
        assert error.message.startswith("Seats must be a whole number from 0 to 2147483647")
        return
    assert 0 <= number <= INTEGER_MAX
    assert text.strip().isascii() and int(text.strip()) == number


@given(st.text(alphabet="0123456789", min_size=1, max_size=30), OTHER_DIGITS, st.integers(0, 30))
def test_a_digit_from_another_script_anywhere_is_refused(
    digits: str, other: str, where: int
) -> None:
    assert unicodedata.category(other) in {"Nd", "No", "Nl"}
    text = digits[:where] + other + digits[where:]
    with pytest.raises(InvalidNumber):
        whole_number(text, "Seats")


@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_integers_are_kept_only_within_bounds(number: int) -> None:
    for value in (number, str(number)):
        try:
            assert whole_number(value, "n", high=BIGINT_MAX) == number
        except InvalidNumber:
            assert not 0 <= number <= BIGINT_MAX


def test_what_python_would_have_read_as_a_number_is_not_one() -> None:
    for text in ("²", "٣", "1_000", "+5", "-0", "0x10", "1e3", "5.0", "", " ", "\u00a0"):
        with pytest.raises(InvalidNumber):
            whole_number(text, "n")
    for value in (True, False, None, 5.0, [5], {"n": 5}):
        with pytest.raises(InvalidNumber):
            whole_number(value, "n")
    assert whole_number(" 42 ", "n") == 42
    assert whole_number("-42", "n", low=-100) == -42


@given(st.integers(1, 200_000), st.sampled_from(["[", '{"a":']))
def test_json_nesting_is_bounded_however_deep(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "1" + closer * depth
    if depth <= MAX_DEPTH:
        assert parse_json(text) is not None
    else:
        with pytest.raises(MalformedJson, match="nests deeper"):
            parse_json(text)


@given(st.binary(max_size=200))
def test_any_bytes_are_a_document_or_malformed(raw: bytes) -> None:
    try:
        document = parse_json(raw)
    except MalformedJson:
        return
    assert json.loads(json.dumps(document)) == document
