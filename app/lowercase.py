"""Lower-casing in SQL that agrees with Python's ``str.lower``, on both engines.

A case-insensitive filter compares a column lower-cased in SQL with a literal lower-cased in
Python, so the two must fold alike, or a value fails to match even itself. SQLite's
``lower()`` folds ASCII letters only (``ÉMILE`` stays ``ÉMILE``); PostgreSQL's maps one
letter at a time by the database's locale (``ΟΔΟΣ`` becomes ``οδοσ``, not ``οδος``; ``İ``
becomes ``i``, not ``i̇``). :func:`lowercase` is the SQL that agrees: on SQLite a function
registered on every connection (:func:`register_on_sqlite`) that calls ``str.lower``; on
PostgreSQL ``lower()`` under ICU's root locale, which applies Unicode's full mapping as
Python does (PostgreSQL built with ICU, as every packaged build is). The result orders by
code point (``COLLATE "C"``), as Python orders strings, whatever the database's collation.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SQLITE_FUNCTION = "unicode_lower"


class lowercase(FunctionElement[str]):
    """``lowercase(expression)``: the string as ``str.lower`` makes it, in code point order."""

    type = String()
    name = "lowercase"
    inherit_cache = True


@compiles(lowercase, "sqlite")
def _lowercase_on_sqlite(element: lowercase, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(lowercase, "postgresql")
def _lowercase_on_postgresql(element: lowercase, compiler: SQLCompiler, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "und-x-icu") COLLATE "C"'


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text


def register_on_sqlite(connection: sqlite3.Connection) -> None:
    """Make :func:`lowercase` available on a new SQLite connection."""
    connection.create_function(SQLITE_FUNCTION, 1, _lower, deterministic=True)
