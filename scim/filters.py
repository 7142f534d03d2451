"""The RFC 7644 filter grammar (section 3.4.2.2) and PATCH paths (section 3.5.2).

A small recursive-descent parser that turns text into an immutable tree; it never evaluates
anything. ``not`` binds tighter than ``and``, which binds tighter than ``or``. Attribute names
and operators are case-insensitive. Anything malformed raises :class:`InvalidFilter` (or
:class:`InvalidPath` for PATCH paths) saying where.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from scim.errors import InvalidFilter, InvalidPath, ScimError

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32
COMPARE_OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})

Literal = str | int | float | bool | None

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<punct>[()\[\]])
      | (?P<word>[^\s()\[\]"]+)
    )""",
    re.VERBOSE,
)
_NAME = re.compile(r"^[A-Za-z$][\w$-]*$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class AttrPath:
    """``[urn:]attr[.sub]``; ``urn`` is ``None`` when the client did not name a schema."""

    urn: str | None
    attr: str
    sub: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.urn}:" if self.urn else ""
        return prefix + self.attr + (f".{self.sub}" if self.sub else "")


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Literal


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


@dataclass(frozen=True)
class ValuePath:
    """``attr[filter]``: some item of a multi-valued attribute matches ``filter``."""

    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH target: an attribute, optionally narrowed to items and a sub-attribute."""

    path: AttrPath
    value_filter: Filter | None = None
    sub: str | None = None


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def storable(text: str) -> bool:
    """Whether both engines can store ``text``: UTF-8 encodable (no lone surrogate), no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def parse_attr_path(text: str, error: type[ScimError]) -> AttrPath:
    """Split ``urn:…:User:name.givenName`` into schema URN, attribute and sub-attribute."""
    urn: str | None = None
    rest = text
    if text.lower().startswith("urn:"):
        urn, _, rest = text.rpartition(":")
        if not rest:
            raise error(f"{text!r} names a schema but no attribute.")
    attr, dot, sub = rest.partition(".")
    if not _NAME.match(attr) or (dot and not _NAME.match(sub)):
        raise error(f"{text!r} is not an attribute path.")
    return AttrPath(urn=urn, attr=attr, sub=sub or None)


def parse_filter(text: str) -> Filter:
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    parser = _Parser(text, InvalidFilter)
    result = parser.filter(0)
    parser.expect_end()
    return result


def parse_patch_path(text: str) -> PatchPath:
    """``attrPath`` or ``valuePath [ "." subAttr ]`` (RFC 7644 section 3.5.2)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidPath(f"The path is longer than {MAX_FILTER_LENGTH} characters.")
    stripped = text.strip()
    if "[" not in stripped:
        return PatchPath(parse_attr_path(stripped, InvalidPath))
    head, _, tail = stripped.partition("[")
    closing = tail.rfind("]")
    if closing < 0:
        raise InvalidPath(f"{text!r}: '[' without a matching ']'.")
    inner, after = tail[:closing], tail[closing + 1 :]
    path = parse_attr_path(head, InvalidPath)
    if path.sub:
        raise InvalidPath(f"{text!r}: a value filter applies to an attribute, not a sub-attribute.")
    sub: str | None = None
    if after:
        if not after.startswith(".") or not _NAME.match(after[1:]):
            raise InvalidPath(f"{text!r}: only '.subAttribute' may follow ']'.")
        sub = after[1:]
    try:
        parser = _Parser(inner, InvalidFilter)
        value_filter = parser.filter(0)
        parser.expect_end()
    except InvalidFilter as exc:
        raise InvalidPath(f"{text!r}: {exc.detail}") from exc
    return PatchPath(path, value_filter, sub)


class _Parser:
    def __init__(self, text: str, error: type[ScimError]) -> None:
        self.error = error
        self.tokens = self._tokenize(text)
        self.index = 0

    def _tokenize(self, text: str) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                raise self.error(f"Unexpected character at position {position + 1}.")
            tokens.append(_Token(match.lastgroup, match.group(match.lastgroup), match.start()))
            position = match.end()
        return tokens

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error("The filter ends too early.")
        self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.index += 1
            return token.text.lower()
        return None

    def punct(self, char: str) -> None:
        token = self.take()
        if token.text != char or token.kind != "punct":
            raise self.error(f"Expected {char!r} at position {token.position + 1}.")

    def expect_end(self) -> None:
        token = self.peek()
        if token is not None:
            raise self.error(f"Unexpected {token.text!r} at position {token.position + 1}.")

    def filter(self, depth: int) -> Filter:
        if depth > MAX_DEPTH:
            raise self.error(f"The filter nests deeper than {MAX_DEPTH} levels.")
        result = self.conjunction(depth)
        while self.keyword("or"):
            result = Or(result, self.conjunction(depth))
        return result

    def conjunction(self, depth: int) -> Filter:
        result = self.unary(depth)
        while self.keyword("and"):
            result = And(result, self.unary(depth))
        return result

    def unary(self, depth: int) -> Filter:
        if self.keyword("not"):
            self.punct("(")
            inner = self.filter(depth + 1)
            self.punct(")")
            return Not(inner)
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.index += 1
            inner = self.filter(depth + 1)
            self.punct(")")
            return inner
        return self.attribute_expression(depth)

    def attribute_expression(self, depth: int) -> Filter:
        token = self.take()
        if token.kind != "word":
            raise self.error(f"Expected an attribute at position {token.position + 1}.")
        path = parse_attr_path(token.text, self.error)
        following = self.peek()
        if following is not None and following.kind == "punct" and following.text == "[":
            if path.sub:
                raise self.error(f"{token.text!r}: a value filter needs a multi-valued attribute.")
            self.index += 1
            inner = self.filter(depth + 1)
            self.punct("]")
            return ValuePath(path, inner)
        operator = self.take()
        op = operator.text.lower()
        if operator.kind != "word" or (op != "pr" and op not in COMPARE_OPERATORS):
            raise self.error(
                f"Expected an operator after {token.text!r} at position {operator.position + 1}."
            )
        if op == "pr":
            return Present(path)
        return Compare(path, op, self.literal())

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            try:
                value: str = json.loads(token.text)
            except ValueError as exc:
                raise self.error(f"Bad string at position {token.position + 1}.") from exc
            if not storable(value):
                raise self.error(f"Unstorable character in the string at {token.position + 1}.")
            return value
        lowered = token.text.lower()
        if token.kind == "word" and lowered in {"true", "false", "null"}:
            return {"true": True, "false": False, "null": None}[lowered]
        if token.kind == "word" and _NUMBER.match(token.text):
            return int(token.text) if _INTEGER.match(token.text) else float(token.text)
        raise self.error(f"Expected a value at position {token.position + 1}, got {token.text!r}.")
