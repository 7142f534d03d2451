"""Filters proven against an independent implementation, not just accepted.

Random users and groups are created through the SCIM API, random filters are sent to
``GET /Users`` and ``GET /Groups``, and the ids returned are compared with what scim2-models'
``ScimFilter.match`` (python-scim's evaluator, the one scim2-server serves) selects from the
same resources' JSON. PATCH's filtered paths (``emails[...]``, ``members[...]``) are compared
the same way, item by item. Every example gets an organization of its own, so examples are
independent while the application and the database live for the whole test (one per engine).

Where the reference and RFC 7643/7644 disagree, the RFC decides and the reference is told so,
narrowly (each exception below says why):

- Comparison keys. RFC 7644 leaves how case-insensitive strings compare to the service
  provider; scim2-models takes that as a policy (``ScimPolicy.comparison_key``, NFC then
  lower-case by default). seatgate's is Unicode lower-casing (``str.lower``) without
  normalization, except for the attributes it compares through a stored key (``userName``, a
  group's name), which compare by that key. The reference gets that policy; what is tested is
  that SQL, on both engines, and the PATCH evaluator keep it.
- ``groups.value``, ``members.value`` and the enterprise ``manager.value`` are ids of other
  resources. RFC 7643 declares them ``caseExact: false`` (the default of section 2.2, spelled
  out in the schemas of section 8.7); scim2-models declares them case-exact.
- ``ne`` on a multi-valued attribute outside brackets (``emails.type ne "work"``): RFC 7644
  section 3.4.2.2 says a filter on a multi-valued attribute "matches if any of the values of
  the specified attribute match the specified criterion"; scim2-models reads ``ne`` as "no
  value equals". The reference gets the RFC's reading, spelled as a value filter it evaluates
  existentially, or no value at all (the attribute is then unassigned, RFC 7643 section 2.5,
  and differs from every value as an absent single value does; there the reference agrees):
  ``(emails[type ne "work"] or not (emails pr))``, and ``emails[type ne null]``.
- ``emails.value`` is a string (RFC 7643 section 4.1.2); see :class:`PlainEmail`.
- Extension attributes are sent to seatgate with or without their schema URN (RFC 7644
  section 3.10 lets a client omit it); the reference always gets the qualified name.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scim2_models import (
    Context,
    Email,
    EnterpriseUser,
    Group,
    GroupMember,
    ScimFilter,
    ScimPolicy,
    User,
)

from app.db import Database
from app.directory import user_name_key
from app.group_roles import group_name_key
from tests.factories import make_org
from tests.scim.conftest import CORE, ENTERPRISE, GROUP, Scim, issue_token

SETTINGS = settings(
    max_examples=int(os.environ.get("SEATGATE_TEST_EXAMPLES", "15")),  # raise it to hunt bugs
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- the reference ---------------------------------------------------------------------------


class PlainEmail(Email):
    """scim2-models validates ``emails.value`` as an address, which refuses filters such as
    ``emails.value gt "m"`` and rewrites the value (domain lower-cased) before comparing."""

    value: str | None = None


class ReferenceUser(User[EnterpriseUser]):
    emails: list[PlainEmail] | None = None  # type: ignore[assignment]
    Emails: ClassVar[type[PlainEmail]] = PlainEmail


RFC_CASE_INSENSITIVE = {
    f"{CORE}:groups.value",
    f"{ENTERPRISE}:manager.value",
    f"{GROUP}:members.value",
}
KEYED = {
    f"{CORE}:userName": user_name_key,
    f"{CORE}:groups.display": group_name_key,
    f"{GROUP}:displayName": group_name_key,
}


def seatgate_comparison_key(binding: Any, value: str) -> str:
    """How seatgate compares a string of the attribute ``binding`` names (see above)."""
    if binding.urn in KEYED:
        return KEYED[binding.urn](value)
    if binding.case_exact and binding.urn not in RFC_CASE_INSENSITIVE:
        return value
    return value.lower()


POLICY = ScimPolicy(comparison_key=seatgate_comparison_key)


def selected_by_reference(model: Any, documents: list[dict[str, Any]], text: str) -> set[str]:
    scim_filter = ScimFilter[model](text)
    with POLICY:
        return {
            document["id"]
            for document in documents
            if scim_filter.match(
                model.model_validate(document, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
            )
        }


# --- filters as trees, written for seatgate and for the reference ----------------------------


@dataclass(frozen=True)
class Leaf:
    """``path op literal`` (no literal for ``pr``), ``spelled`` as sent to seatgate; ``multi``
    and ``sub`` name the multi-valued attribute and sub-attribute the path reads, if any."""

    path: str
    op: str
    literal: str | None
    spelled: str
    multi: str | None = None
    sub: str | None = None


@dataclass(frozen=True)
class Brackets:
    attribute: str
    inner: Node


@dataclass(frozen=True)
class Both:
    left: Node
    right: Node
    joiner: str


@dataclass(frozen=True)
class Negation:
    inner: Node


Node = Leaf | Brackets | Both | Negation


def for_seatgate(node: Node, case: Callable[[str], str]) -> str:
    """The filter as a client may send it: names and keywords in any case."""
    if isinstance(node, Leaf):
        return f"{node.spelled} {case(node.op)}" + (f" {node.literal}" if node.literal else "")
    if isinstance(node, Brackets):
        return f"{case(node.attribute)}[{for_seatgate(node.inner, case)}]"
    if isinstance(node, Both):
        joiner = case(node.joiner)
        return f"({for_seatgate(node.left, case)} {joiner} {for_seatgate(node.right, case)})"
    return f"{case('not')} ({for_seatgate(node.inner, case)})"


def for_reference(node: Node) -> str:
    if isinstance(node, Leaf):
        if node.op == "ne" and node.multi is not None:
            some_value = f"{node.multi}[{node.sub} ne {node.literal}]"
            if node.literal == "null":  # an unassigned attribute is null
                return some_value
            return f"({some_value} or not ({node.multi} pr))"
        return f"{node.path} {node.op}" + (f" {node.literal}" if node.literal else "")
    if isinstance(node, Brackets):
        return f"{node.attribute}[{for_reference(node.inner)}]"
    if isinstance(node, Both):
        return f"({for_reference(node.left)} {node.joiner} {for_reference(node.right)})"
    return f"not ({for_reference(node.inner)})"


Leaves = st.SearchStrategy[Node]
# (reference path, spellings for seatgate, multi-valued attribute, its sub-attribute)
Entry = tuple[str, list[str], str | None, str | None]


@dataclass(frozen=True)
class Vocabulary:
    """What filters over one resource type may name."""

    strings: list[Entry]
    booleans: list[Entry]
    dates: list[str]
    present: list[str]
    brackets: dict[str, list[tuple[str, str]]]  # attribute -> (sub-attribute, its type)


STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
ORDER_OPS = ["eq", "ne", "gt", "ge", "lt", "le"]
BOOLEANS = st.sampled_from(["true", "false"])

# Letters whose lower-casing is special (ß, ẞ, İ, ı, final ς, the Kelvin sign, title-case ǅ)
# beside plain ASCII in both cases; whole words that differ only by case or by ß/ss.
ALPHABET = "aAbBzZ09éÉßẞİıΣσςKǅǆøØ-_ "
WORDS = ["", "ann", "ANN", "straße", "STRASSE", "ÉMILE", "émile", "ΟΔΟΣ", "οδος", "İlker"]
EMAIL_LETTERS = "aAbBzZéÉßİıΣσςøØ"
words = st.sampled_from(WORDS) | st.text(alphabet=ALPHABET, max_size=5)


def any_case(*names: str) -> st.SearchStrategy[str]:
    return st.sampled_from([n for name in names for n in (name, name.lower(), name.upper())])


def quoted(text: str, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key not in {"$ref", "location", "version", "schemas"}:
                yield from strings_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from strings_of(inner)


def values_at(documents: list[dict[str, Any]], path: str) -> list[str]:
    """The strings the resources hold at ``path`` (``emails.value``, ``urn:…:department``)."""
    found: list[str] = []
    for document in documents:
        nodes: list[Any] = [document]
        if path.startswith(f"{ENTERPRISE}:"):
            nodes = [document.get(ENTERPRISE, {})]
        for name in path.removeprefix(f"{ENTERPRISE}:").split("."):
            nodes = [n.get(name) for n in nodes if isinstance(n, dict)]
            nodes = [i for n in nodes for i in (n if isinstance(n, list) else [n])]
        found.extend(n for n in nodes if isinstance(n, str))
    return found


CHANGES = st.sampled_from([str, str, str.upper, str.lower, str.swapcase])


def near(value: str, change: Callable[[str], str], cut: int) -> str:
    """``value`` re-cased, and cut to its first (or last, for a negative ``cut``) letters."""
    changed = change(value)
    return changed[cut:] if cut < 0 else changed[: cut or None]


class Literals:
    """Literals near what a population holds."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents
        self.pool = sorted({s for document in documents for s in strings_of(document)})
        self.by_path: dict[str, st.SearchStrategy[str]] = {}

    def strings(self, path: str) -> st.SearchStrategy[str]:
        """The attribute's own values or any other of the population (as stored, re-cased or
        cut), or unrelated words; quoted with or without escapes."""
        if path not in self.by_path:
            cuts = st.sampled_from([0, 0, 0, 1, 2, -1, -2])
            derived = [
                st.builds(near, st.sampled_from(values), CHANGES, cuts)
                for values in (values_at(self.documents, path), self.pool)
                if values
            ]
            texts = st.one_of(*derived, *derived[:1], words)
            self.by_path[path] = st.builds(quoted, texts, st.booleans())
        return self.by_path[path]

    def dates(self) -> st.SearchStrategy[str]:
        """Instants at or next to the population's, written with ``Z``, an offset, or no
        fraction of a second."""
        moments = [d["meta"][k] for d in self.documents for k in ("created", "lastModified")]

        def write(moment: str, shift_us: int, form: int) -> str:
            instant = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
            instant += dt.timedelta(microseconds=shift_us)
            if form == 1:
                return instant.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
            if form == 2:
                instant = instant.replace(microsecond=0)
            return instant.isoformat().replace("+00:00", "Z")

        shifts = st.sampled_from([0, 0, 1, -1, 1_000_000, -1_000_000])
        return st.builds(write, st.sampled_from(moments), shifts, st.integers(0, 2)).map(json.dumps)


def compare(entry: Entry, ops: list[str], values: st.SearchStrategy[str]) -> Leaves:
    path, spellings, multi, sub = entry
    return st.builds(
        lambda spelled, op, literal: Leaf(path, op, literal, spelled, multi, sub),
        any_case(*spellings),
        st.sampled_from(ops),
        values,
    )


def present(path: str) -> Leaves:
    return st.builds(lambda spelled: Leaf(path, "pr", None, spelled), any_case(path))


def combined(leaf: Leaves, max_leaves: int) -> Leaves:
    return st.recursive(
        leaf,
        lambda inner: (
            st.builds(Both, inner, inner, st.sampled_from(["and", "or"]))
            | st.builds(Negation, inner)
        ),
        max_leaves=max_leaves,
    )


def inside(vocabulary: Vocabulary, literals: Literals, attribute: str) -> Leaves:
    """A filter inside ``attribute[...]``: its sub-attributes compared, with and/or/not."""

    def item_leaf(sub: str, kind: str) -> Leaves:
        entry: Entry = (sub, [sub], None, None)
        if kind == "boolean":
            return compare(entry, ["eq", "ne"], BOOLEANS) | present(sub)
        values = literals.strings(f"{attribute}.{sub}")
        return compare(entry, STRING_OPS, values) | present(sub)

    subs = vocabulary.brackets[attribute]
    return combined(st.one_of([item_leaf(*sub) for sub in subs]), max_leaves=3)


def filters(vocabulary: Vocabulary, documents: list[dict[str, Any]]) -> Leaves:
    """Filters over the vocabulary, with literals near the documents' values."""
    literals = Literals(documents)

    def string_leaf(entry: Entry) -> Leaves:
        values = literals.strings(f"{entry[2]}.{entry[3]}" if entry[2] else entry[0])
        return compare(entry, STRING_OPS, values) | compare(entry, ["eq", "ne"], st.just("null"))

    def date_leaf(path: str) -> Leaves:
        return compare((path, [path], None, None), ORDER_OPS, literals.dates())

    def brackets(attribute: str) -> Leaves:
        return st.builds(Brackets, st.just(attribute), inside(vocabulary, literals, attribute))

    kinds = [
        st.one_of([string_leaf(entry) for entry in vocabulary.strings]),
        st.one_of([date_leaf(path) for path in vocabulary.dates]),
        st.one_of([present(path) for path in vocabulary.present]),
        st.one_of([brackets(attribute) for attribute in sorted(vocabulary.brackets)]),
    ]
    if vocabulary.booleans:
        kinds.append(st.one_of([compare(e, ["eq", "ne"], BOOLEANS) for e in vocabulary.booleans]))
    return combined(st.one_of(kinds), max_leaves=4)


# --- populations -----------------------------------------------------------------------------


def email_lists(user: int = 0) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Items with or without each part; addresses unique to ``user``."""
    items = st.fixed_dictionaries(
        {},
        optional={
            "value": st.text(alphabet=EMAIL_LETTERS, min_size=1, max_size=4),
            "type": st.sampled_from(["work", "home", "other", "Work", "HOME"]),
            "primary": st.booleans(),
            "display": words,
        },
    )

    def addressed(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**item, "value": f"{item['value']}.{user}{n}@acme.example.com"}
            if "value" in item
            else item
            for n, item in enumerate(listed)
        ]

    return st.lists(items.filter(bool), max_size=4).map(addressed)


def user_bodies(index: int) -> st.SearchStrategy[dict[str, Any]]:
    names = st.fixed_dictionaries(
        {}, optional={"givenName": words, "familyName": words, "formatted": words}
    )
    enterprise = st.fixed_dictionaries(
        {},
        optional={
            "employeeNumber": words,
            "department": words,
            "manager": st.fixed_dictionaries({"value": words}),
        },
    )
    return st.fixed_dictionaries(
        {"userName": words.map(lambda w: f"{w}{index}")},  # unique in the organization
        optional={
            "displayName": words,
            "nickName": words,
            "title": words,
            "externalId": words,
            "active": st.booleans(),
            "name": names,
            "emails": email_lists(index),
            ENTERPRISE: enterprise,
        },
    ).map(lambda body: {"schemas": [CORE, ENTERPRISE], **body})


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, list[int]]]]:
    """Users, and groups as (display name, indexes of their members)."""
    count = draw(st.integers(1, 3))
    users = [draw(user_bodies(index)) for index in range(count)]
    memberships = st.lists(st.integers(0, count - 1), unique=True, max_size=count)
    groups = draw(st.lists(st.tuples(words, memberships), max_size=2))
    return users, [(f"{name}-g{n}", members) for n, (name, members) in enumerate(groups)]


@st.composite
def group_populations(draw: st.DrawFn, groups: int = 3) -> tuple[int, list[dict[str, Any]]]:
    """A number of users, and group bodies whose members are indexes of those users."""
    users = draw(st.integers(1, 3))
    group = st.fixed_dictionaries(
        {
            "displayName": words,
            "members": st.lists(st.integers(0, users - 1), unique=True, max_size=users),
        },
        optional={"externalId": words},
    )
    bodies = draw(st.lists(group, min_size=1, max_size=groups))
    return users, [{**g, "displayName": f"{g['displayName']}-{n}"} for n, g in enumerate(bodies)]


class Tenants:
    """A fresh organization (and a token for it) per example, in one app and database."""

    def __init__(self, client: FlaskClient, database: Database) -> None:
        self.client, self.database = client, database
        self.numbers = itertools.count()

    def scim(self) -> Scim:
        slug = f"ref{next(self.numbers)}"
        make_org(self.database, slug, seats=20)
        return Scim(self.client, issue_token(self.database, slug))


@pytest.fixture
def tenants(client: FlaskClient, database: Database) -> Tenants:
    return Tenants(client, database)


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def make_groups(scim: Scim, users: int, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [
        created(scim.post("/Users", {"schemas": [CORE], "userName": f"u{n}"}))["id"]
        for n in range(users)
    ]
    for group in groups:
        members = [{"value": ids[m]} for m in group["members"]]
        created(scim.post("/Groups", {**group, "schemas": [GROUP], "members": members}))
    listed: list[dict[str, Any]] = scim.get("/Groups", count=200).get_json()["Resources"]
    return listed


def listed_ids(scim: Scim, resource: str, text: str) -> set[str]:
    response = scim.get(f"/{resource}", filter=text, count=200)
    assert response.status_code == 200, (text, response.get_json())
    return {r["id"] for r in response.get_json()["Resources"]}


# --- Users and Groups ------------------------------------------------------------------------

USER_VOCABULARY = Vocabulary(
    strings=[
        ("userName", ["userName", f"{CORE}:userName"], None, None),
        ("displayName", ["displayName"], None, None),
        ("nickName", ["nickName"], None, None),
        ("title", ["title"], None, None),
        ("externalId", ["externalId"], None, None),
        ("id", ["id"], None, None),
        ("name.givenName", ["name.givenName"], None, None),
        ("name.familyName", ["name.familyName"], None, None),
        ("name.formatted", ["name.formatted"], None, None),
        (
            f"{ENTERPRISE}:employeeNumber",
            [f"{ENTERPRISE}:employeeNumber", "employeeNumber"],
            None,
            None,
        ),
        (f"{ENTERPRISE}:department", [f"{ENTERPRISE}:department", "department"], None, None),
        (
            f"{ENTERPRISE}:manager.value",
            [f"{ENTERPRISE}:manager.value", "manager.value"],
            None,
            None,
        ),
        ("emails", ["emails"], "emails", "value"),
        ("emails.value", ["emails.value"], "emails", "value"),
        ("emails.type", ["emails.type"], "emails", "type"),
        ("emails.display", ["emails.display"], "emails", "display"),
        ("groups", ["groups"], "groups", "value"),
        ("groups.value", ["groups.value"], "groups", "value"),
        ("groups.display", ["groups.display"], "groups", "display"),
    ],
    booleans=[
        ("active", ["active"], None, None),
        ("emails.primary", ["emails.primary"], "emails", "primary"),
    ],
    dates=["meta.created", "meta.lastModified"],
    present=[
        "userName",
        "displayName",
        "nickName",
        "title",
        "externalId",
        "active",
        "name",
        "name.givenName",
        "name.formatted",
        "emails",
        "emails.value",
        "emails.type",
        "emails.primary",
        "emails.display",
        "groups",
        "groups.display",
        f"{ENTERPRISE}:employeeNumber",
        f"{ENTERPRISE}:manager",
        f"{ENTERPRISE}:manager.value",
    ],
    brackets={
        "emails": [
            ("value", "string"),
            ("type", "string"),
            ("display", "string"),
            ("primary", "boolean"),
        ],
        "groups": [("value", "string"), ("display", "string")],
    },
)

GROUP_VOCABULARY = Vocabulary(
    strings=[
        ("displayName", ["displayName", f"{GROUP}:displayName"], None, None),
        ("externalId", ["externalId"], None, None),
        ("id", ["id"], None, None),
        ("members", ["members"], "members", "value"),
        ("members.value", ["members.value"], "members", "value"),
    ],
    booleans=[],
    dates=["meta.created", "meta.lastModified"],
    present=["displayName", "externalId", "members", "members.value"],
    brackets={"members": [("value", "string")]},
)

FILTERS_PER_EXAMPLE = 4  # a population costs several requests to build; a filter, one
cases: st.SearchStrategy[Callable[[str], str]] = st.sampled_from([str, str.upper])


@SETTINGS
@given(population=populations(), data=st.data())
def test_users_filters_select_what_the_reference_selects(
    tenants: Tenants, population: Any, data: st.DataObject
) -> None:
    scim = tenants.scim()
    bodies, groups = population
    ids = [created(scim.post("/Users", body))["id"] for body in bodies]
    for name, members in groups:
        body = {"displayName": name, "members": [{"value": ids[m]} for m in members]}
        created(scim.post("/Groups", {"schemas": [GROUP], **body}))
    documents = [scim.get(f"/Users/{i}").get_json() for i in ids]
    user_filters = filters(USER_VOCABULARY, documents)
    for _ in range(FILTERS_PER_EXAMPLE):
        tree = data.draw(user_filters)
        text, reference = for_seatgate(tree, data.draw(cases)), for_reference(tree)
        expected = selected_by_reference(ReferenceUser, documents, reference)
        assert listed_ids(scim, "Users", text) == expected, (text, reference)


@SETTINGS
@given(population=group_populations(), data=st.data())
def test_groups_filters_select_what_the_reference_selects(
    tenants: Tenants, population: Any, data: st.DataObject
) -> None:
    scim = tenants.scim()
    documents = make_groups(scim, *population)
    group_filters = filters(GROUP_VOCABULARY, documents)
    for _ in range(FILTERS_PER_EXAMPLE):
        tree = data.draw(group_filters)
        text, reference = for_seatgate(tree, data.draw(cases)), for_reference(tree)
        expected = selected_by_reference(Group, documents, reference)
        assert listed_ids(scim, "Groups", text) == expected, (text, reference)


# --- PATCH's filtered paths ------------------------------------------------------------------


@SETTINGS
@given(emails=email_lists(), data=st.data())
def test_patch_removes_the_emails_the_reference_selects(
    tenants: Tenants, emails: list[dict[str, Any]], data: st.DataObject
) -> None:
    scim = tenants.scim()
    user = created(scim.post("/Users", {"schemas": [CORE], "userName": "p", "emails": emails}))
    tree = data.draw(inside(USER_VOCABULARY, Literals([user]), "emails"))
    text, reference = for_seatgate(tree, data.draw(cases)), for_reference(tree)
    response = scim.patch(f"/Users/{user['id']}", [{"op": "remove", "path": f"emails[{text}]"}])
    assert response.status_code == 200, (text, response.get_json())
    selects = ScimFilter[ReferenceUser](f"emails[{reference}]")
    with POLICY:
        kept = [
            item
            for item in user.get("emails", [])
            if not selects.match(ReferenceUser(user_name="p", emails=[PlainEmail(**item)]))
        ]
    assert response.get_json().get("emails", []) == kept, (text, reference)


@SETTINGS
@given(population=group_populations(groups=1), data=st.data())
def test_patch_removes_the_members_the_reference_selects(
    tenants: Tenants, population: Any, data: st.DataObject
) -> None:
    scim = tenants.scim()
    group = make_groups(scim, *population)[0]
    tree = data.draw(inside(GROUP_VOCABULARY, Literals([group]), "members"))
    text, reference = for_seatgate(tree, data.draw(cases)), for_reference(tree)
    response = scim.patch(f"/Groups/{group['id']}", [{"op": "remove", "path": f"members[{text}]"}])
    assert response.status_code == 200, (text, response.get_json())
    selects = ScimFilter[Group](f"members[{reference}]")
    with POLICY:
        kept = {
            member["value"]
            for member in group.get("members", [])
            if not selects.match(
                Group(members=[GroupMember.model_validate({"value": member["value"]})])
            )
        }
    assert {m["value"] for m in response.get_json().get("members", [])} == kept, (text, reference)
