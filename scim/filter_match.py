"""What a filter comparison means, said once for SQL and for items in memory.

A search compiles filters to SQL (:mod:`scim.query`, :mod:`scim.group_query`); PATCH selects
the items of ``emails[type eq "work"]`` in memory (:mod:`scim.patch`, :mod:`scim.groups`).
Both take the literal through :func:`operand`, so they refuse the same filters and fold the
same strings, and PATCH tests items with :func:`item_filter`, whose rules are the SQL
compiler's: an absent value equals nothing (not even ``false``) and differs from everything,
``pr`` wants a non-empty value. ``tests/scim/test_filters_reference.py`` checks both against
scim2-models' evaluator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from scim.attributes import Attribute
from scim.errors import InvalidFilter, InvalidPath
from scim.filters import And, Compare, Filter, Not, Or, Present

Fold = Callable[[str], str]

SUBSTRING_OPERATORS = frozenset({"co", "sw", "ew"})


def fold_of(attribute: Attribute) -> Fold | None:
    """How a string of ``attribute`` compares: case-insensitive ones lower-cased (Unicode's
    full mapping, as ``str.lower``: ``ΟΔΟΣ`` is ``οδος``, ``İ`` is ``i̇``), others as they are."""
    textual = attribute.type in {"string", "reference"}
    return str.lower if textual and not attribute.case_exact else None


def operand(tree: Compare, attribute: Attribute, fold: Fold | None) -> Any:
    """The literal of ``tree`` as a value of ``attribute``, folded by ``fold``.

    Raises :class:`InvalidFilter` for a comparison the attribute's type does not allow: a
    complex attribute, an ordering with null or of a boolean, a substring of a non-string, a
    literal of the wrong type. Booleans also come as the strings ``"True"``/``"False"``
    (Entra ID sends them so).
    """
    kind, op, value = attribute.type, tree.op, tree.value
    if kind == "complex":
        raise InvalidFilter(f"{tree.path} is complex; compare one of its sub-attributes.")
    if value is None:
        if op not in {"eq", "ne"}:
            raise InvalidFilter(f"{tree.path}: '{op}' cannot compare with null.")
        return None
    textual = kind in {"string", "reference"}
    if op in SUBSTRING_OPERATORS and not (textual and isinstance(value, str)):
        raise InvalidFilter(f"{tree.path}: '{op}' applies to strings only.")
    if kind == "boolean":
        if op not in {"eq", "ne"}:
            raise InvalidFilter(f"{tree.path}: '{op}' does not apply to a boolean.")
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise InvalidFilter(f"{tree.path} is a boolean; compare it with true or false.")
        return value
    if kind == "dateTime":
        if not isinstance(value, str):
            raise InvalidFilter(f"{tree.path} is a date-time; compare it with a string.")
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        except (ValueError, OverflowError) as exc:
            raise InvalidFilter(f"{tree.path}: {value!r} is not an ISO 8601 date-time.") from exc
    if not isinstance(value, str):
        raise InvalidFilter(f"{tree.path} is a string; compare it with a quoted string.")
    return fold(value) if fold else value


ItemTest = Callable[[Mapping[str, Any]], bool]


def item_filter(tree: Filter, parent: Attribute) -> ItemTest:
    """The test ``parent[tree]`` selects items of the multi-valued ``parent`` with.

    The filter is checked whole first, so a bad one is refused even when there is no item to
    test (as a search refuses it whatever the users).
    """
    if isinstance(tree, And | Or):
        left, right = item_filter(tree.left, parent), item_filter(tree.right, parent)
        if isinstance(tree, And):
            return lambda item: left(item) and right(item)
        return lambda item: left(item) or right(item)
    if isinstance(tree, Not):
        inner = item_filter(tree.inner, parent)
        return lambda item: not inner(item)
    if not isinstance(tree, Compare | Present):
        raise InvalidPath("A value filter cannot contain another value filter.")
    if tree.path.urn is not None or tree.path.sub is not None:
        raise InvalidPath(f"{tree.path}: name a sub-attribute of {parent.name}.")
    sub = parent.sub(tree.path.attr)
    if sub is None:
        raise InvalidPath(f"{parent.name} has no sub-attribute {tree.path.attr!r}.")
    name = sub.name
    if isinstance(tree, Present):
        return lambda item: item.get(name) not in (None, "")
    fold = fold_of(sub)
    expected = operand(tree, sub, fold)
    return lambda item: _compares(item.get(name), tree.op, expected, fold)


def _compares(actual: Any, op: str, expected: Any, fold: Fold | None) -> bool:
    """``actual op expected`` as SQL compares a column: absent equals only null and differs
    from every value; a value of another type is not equal."""
    if expected is None:
        return (actual is None) == (op == "eq")
    if actual is None or isinstance(actual, bool) != isinstance(expected, bool):
        return op == "ne"
    if isinstance(actual, str) and fold is not None:
        actual = fold(actual)
    return _holds(op, actual, expected)


def _holds(op: str, actual: Any, expected: Any) -> bool:
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "co":
        return bool(expected in actual)
    if op == "sw":
        return bool(actual.startswith(expected))
    if op == "ew":
        return bool(actual.endswith(expected))
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
    }
    return comparisons[op](actual, expected)
