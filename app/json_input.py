"""The one way to read a JSON request body, for SCIM and the JSON API alike.

``json.loads`` alone lets a client pin a worker or crash a request: 100,000 nested ``[``
raise ``RecursionError`` (which is not a ``ValueError``, so Flask's ``get_json(silent=True)``
let it through as a 500), and every later walk over a deep document recurses again. Here a
body that is not JSON, uses ``NaN``/``Infinity`` (not JSON), or nests deeper than
:data:`MAX_DEPTH` is a :class:`MalformedJson`, and whatever is returned is safe to walk
recursively.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from app.errors import InvalidInput

MAX_DEPTH = 32  # a SCIM User is 4 levels deep, a PATCH 6; deeper bodies are hostile or broken


class MalformedJson(InvalidInput):
    """The body is not a JSON document seatgate will read."""


def parse_json(raw: bytes | str) -> Any:
    """The JSON document in ``raw`` (UTF-8), at most :data:`MAX_DEPTH` levels deep."""
    try:
        document = json.loads(raw, parse_constant=_not_json)
    except RecursionError as exc:
        raise _too_deep() from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJson(f"The request body is not valid JSON: {exc}") from exc
    _check_depth(document)
    return document


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON value")


def _check_depth(document: Any) -> None:
    """Count nested arrays and objects level by level, without recursion (the document may
    be as deep as the interpreter's own limit)."""
    containers = [document] if isinstance(document, dict | list) else []
    depth = 0
    while containers:
        depth += 1
        if depth > MAX_DEPTH:
            raise _too_deep()
        containers = [
            inner
            for container in containers
            for inner in (container.values() if isinstance(container, dict) else container)
            if isinstance(inner, dict | list)
        ]


def _too_deep() -> MalformedJson:
    return MalformedJson(f"The request body nests deeper than {MAX_DEPTH} levels.")
