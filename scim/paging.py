"""Index paging (RFC 7644 section 3.4.2.4) and cursor paging (RFC 9865), for every list.

A cursor is an opaque token around the last row key of the page before: the next page is
the rows with a larger key, in key order. Keys are immutable, increasing primary keys, so
rows inserted while a client pages appear after its position (or not yet), and no row is
ever skipped or served twice. Cursors therefore never expire.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.whole_numbers import BIGINT_MAX, INTEGER_MAX, InvalidNumber, whole_number
from scim import attributes as attrs
from scim.errors import InvalidValue, ScimError

MAX_RESULTS = 200
# Far beyond any organization's size, and within every engine's OFFSET range.
MAX_START_INDEX = 1_000_000_000
_CURSOR_PREFIX = "after:"


class InvalidCursor(ScimError):
    scim_type = "invalidCursor"


@dataclass(frozen=True)
class Paging:
    """``after`` is ``None`` for index paging, else the key the page starts after (0 first)."""

    start: int
    count: int
    after: int | None = None


def parse_paging(parameters: Mapping[str, Any]) -> Paging:
    count = min(max(integer(parameters, "count", MAX_RESULTS), 0), MAX_RESULTS)
    cursor = parameters.get("cursor")
    if cursor is None:
        start = min(max(integer(parameters, "startIndex", 1), 1), MAX_START_INDEX)
        return Paging(start=start, count=count)
    if parameters.get("startIndex") not in (None, ""):
        raise InvalidValue("Use either startIndex or cursor, not both.")
    if not isinstance(cursor, str):
        raise InvalidCursor("A cursor is a string.")
    return Paging(start=1, count=count, after=decode_cursor(cursor) if cursor else 0)


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The key a cursor carries: one this server could have issued, so within the key
    column's range (a key past it once reached the database and answered 500)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        return whole_number(text.removeprefix(_CURSOR_PREFIX), "cursor", high=INTEGER_MAX)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidNumber) as exc:
        raise InvalidCursor(f"{cursor!r} is not a cursor this server issued.") from exc


def integer(parameters: Mapping[str, Any], name: str, default: int) -> int:
    """A paging number, from the query (text) or a search body (JSON). Out-of-range values
    are the caller's to clamp (RFC 7644: a negative count means 0); beyond 64 bits, or not
    a number, is a 400 ``invalidValue``."""
    value = parameters.get(name)
    if value is None or value == "":
        return default
    return whole_number(value, name, low=-BIGINT_MAX, high=BIGINT_MAX)


def list_response(
    resources: list[dict[str, Any]], total: int, paging: Paging, next_key: int | None = None
) -> dict[str, Any]:
    """A ListResponse; cursor pages carry ``nextCursor`` (absent on the last page)."""
    body: dict[str, Any] = {
        "schemas": [attrs.LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
    }
    if paging.after is None:
        body["startIndex"] = paging.start
    elif next_key is not None:
        body["nextCursor"] = encode_cursor(next_key)
    body["Resources"] = resources
    return body
