"""Money as integers of minor units (I5). Decimal only at the edges: parsing and display."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, is_currency

from app.errors import InvalidInput

MAX_PRICE_MINOR = 10**12


def normalize_currency(code: str) -> str:
    """An ISO 4217 code in upper case, or :class:`InvalidInput`."""
    upper = (code or "").strip().upper()
    if len(upper) != 3 or not is_currency(upper):
        raise InvalidInput(f"Unknown currency {code!r}: use an ISO 4217 code such as USD or EUR.")
    return upper


def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))


def parse_price(text: str, currency: str) -> int:
    """``"30.00"`` in USD → ``3000``. Refuses negatives, non-numbers and excess decimals."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"Price {text!r} is not a number (write it like 30.00).") from exc
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"Price {text!r} must be zero or a positive amount.")
    digits = minor_digits(currency)
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        raise InvalidInput(f"Price {text!r} has more than {digits} decimals for {currency}.")
    if minor > MAX_PRICE_MINOR:
        raise InvalidInput(f"Price {text!r} is implausibly large.")
    return int(minor)


def format_minor(amount_minor: int, currency: str) -> str:
    """``150000`` in USD → ``"1500.00"`` (a plain decimal string, no grouping, no symbol)."""
    digits = minor_digits(currency)
    return str(Decimal(amount_minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits)))


def display(amount_minor: int, currency: str) -> str:
    """``150000`` USD → ``"$1,500.00"``: for people, never for arithmetic."""
    return str(
        format_currency(Decimal(format_minor(amount_minor, currency)), currency, locale="en_US")
    )
