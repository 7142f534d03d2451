"""The User resource: SCIM JSON ⇄ :class:`app.directory.Profile`.

Input goes through three steps. :func:`assignments` resolves every key (case-insensitive
names, ``urn:…:attr`` keys, the extension object, ``name.givenName`` dotted keys) to a
:class:`AttributeRef` and drops read-only and unknown attributes (RFC 7643 section 2.2: ``id``,
``meta`` and ``groups`` sent by a client are ignored). :func:`conform` reshapes a value to its
attribute the way identity providers really send them (a one-element list for a single value,
a bare string for a complex attribute, a single object for a list). Then a marshmallow schema
generated from :mod:`scim.attributes` checks types, including booleans sent as ``"True"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from app.directory import GroupRef, Profile, UserRecord
from app.models import DirectoryUser
from scim import attributes as attrs
from scim.attributes import Attribute, AttributeRef
from scim.errors import InvalidSyntax, InvalidValue, ScimError
from scim.filters import AttrPath, parse_attr_path


def resolve_slot(path: AttrPath) -> AttributeRef | None:
    """Where a client may write ``path``; ``None`` for a read-only attribute (ignored).

    Raises :class:`LookupError` for an attribute this server does not have.
    """
    slot = attrs.resolve(path.urn, path.attr, path.sub)
    if not slot.attribute.writable or (slot.sub is not None and not slot.sub.writable):
        return None
    return slot


def slot_for_key(key: str) -> AttributeRef | None:
    """Resolve a body key: ``title``, ``name.givenName``, ``urn:…:enterprise:2.0:User:manager``."""
    try:
        path = parse_attr_path(key, InvalidValue)
    except ScimError as exc:
        raise LookupError(exc.detail) from exc
    return resolve_slot(path)


def assignments(document: Mapping[str, Any]) -> Iterator[tuple[AttributeRef, Any]]:
    """Every writable (slot, value) pair of a body; unknown and read-only keys are skipped."""
    for key, value in document.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            continue
        if key.lower() == attrs.ENTERPRISE_USER.lower():
            if isinstance(value, Mapping):
                for inner_key, inner_value in value.items():
                    yield from _assignment(f"{attrs.ENTERPRISE_USER}:{inner_key}", inner_value)
            continue
        if key.lower() == attrs.CORE_USER.lower():
            if isinstance(value, Mapping):
                yield from assignments(value)
            continue
        yield from _assignment(key, value)


def _assignment(key: str, value: Any) -> Iterator[tuple[AttributeRef, Any]]:
    try:
        slot = slot_for_key(key)
    except LookupError:
        return
    if slot is not None:
        yield slot, conform(slot.sub or slot.attribute, value)


def conform(attribute: Attribute, value: Any) -> Any:
    """Reshape a value to the attribute's shape; types are checked later by the schema."""
    if attribute.multi_valued:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        conformed = (conform(attribute.item(), item) for item in items)
        return [item for item in conformed if item is not None]
    if isinstance(value, list) and len(value) <= 1:
        value = value[0] if value else None  # Entra ID wraps single values in arrays
    if attribute.sub_attributes:
        if isinstance(value, Mapping):
            shaped: dict[str, Any] = {}
            for key, inner in value.items():
                sub = attribute.sub(str(key))
                if sub is not None and sub.writable:
                    shaped[sub.name] = conform(sub, inner)
            return shaped
        value_sub = attribute.sub("value")
        if value is not None and value_sub is not None:
            return {"value": conform(value_sub, value)}  # Entra ID sends the manager's bare id
        return value
    if isinstance(value, Mapping) and set(value) == {"value"}:
        value = value["value"]
    if (
        attribute.type in {"string", "reference"}
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return str(value)
    return value


def set_slot(document: dict[str, Any], slot: AttributeRef, value: Any) -> None:
    """Assign ``value`` to ``slot`` in a canonical document, creating parents as needed."""
    container = slot.container(document, create=True)
    assert container is not None
    if slot.sub is None:
        container[slot.attribute.name] = value
        return
    if slot.attribute.multi_valued:
        current = container.get(slot.attribute.name)
        items = [i for i in current if isinstance(i, dict)] if isinstance(current, list) else []
        for item in items:
            item[slot.sub.name] = value
        container[slot.attribute.name] = items or [{slot.sub.name: value}]
        return
    parent = container.get(slot.attribute.name)
    if not isinstance(parent, dict):
        parent = container[slot.attribute.name] = {}
    parent[slot.sub.name] = value


def canonical(document: Any) -> dict[str, Any]:
    """A body as a canonical document: canonical names, extension under its URN."""
    if not isinstance(document, Mapping):
        raise InvalidSyntax("The request body must be a JSON object.")
    result: dict[str, Any] = {}
    for slot, value in assignments(document):
        set_slot(result, slot, value)
    return result


def _field(attribute: Attribute) -> fields.Field[Any]:
    inner: fields.Field[Any]
    if attribute.sub_attributes:
        nested = Schema.from_dict(
            {sub.name: _field(sub) for sub in attribute.sub_attributes if sub.writable},
            name=f"{attribute.name}Schema",
        )
        inner = fields.Nested(nested(unknown=EXCLUDE), allow_none=True)
    elif attribute.type == "boolean":
        inner = fields.Boolean(allow_none=True)
    else:
        inner = fields.String(allow_none=True)
    if attribute.multi_valued:
        return fields.List(inner, allow_none=True)
    return inner


def _schema(attributes: tuple[Attribute, ...], name: str) -> Schema:
    definition = {a.name: _field(a) for a in attributes if a.writable}
    return Schema.from_dict(definition, name=name)(unknown=EXCLUDE)


_CORE_SCHEMA = _schema(attrs.USER_ATTRIBUTES + attrs.COMMON_ATTRIBUTES, "UserSchema")
_ENTERPRISE_SCHEMA = _schema(attrs.ENTERPRISE_ATTRIBUTES, "EnterpriseUserSchema")


def parse_user(document: Any) -> Profile:
    """Validate a canonical or raw User body into a :class:`Profile`."""
    shaped = canonical(document)
    extension = shaped.pop(attrs.ENTERPRISE_USER, {})
    try:
        core: dict[str, Any] = _CORE_SCHEMA.load(shaped)
        enterprise: dict[str, Any] = _ENTERPRISE_SCHEMA.load(extension)
    except ValidationError as exc:
        raise InvalidValue(_describe(exc.messages)) from exc
    core = _prune(core)
    enterprise = _prune(enterprise)
    user_name = core.pop("userName", None)
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("userName is required.")
    active = core.pop("active", None)
    multi_valued = {
        name: _one_primary(core.pop(name)) for name in sorted(attrs.MULTI_VALUED) if name in core
    }
    return Profile(
        user_name=user_name,
        active=active,
        external_id=core.pop("externalId", None),
        display_name=core.pop("displayName", None),
        attributes=core,
        multi_valued=multi_valued,
        enterprise=enterprise,
    )


def _prune(value: Any) -> Any:
    """Drop nulls and empty lists and objects: RFC 7643 treats them as unassigned."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [v for v in (_prune(item) for item in value) if v not in (None, [], {})]
    return value


def _one_primary(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most one item may be primary (RFC 7643 section 2.4); the first one wins."""
    seen = False
    for item in items:
        if item.get("primary"):
            if seen:
                item["primary"] = False
            seen = True
    return items


def _describe(messages: Any, prefix: str = "") -> str:
    """marshmallow's nested messages as one line: ``emails.0.primary: Not a valid boolean.``"""
    if isinstance(messages, dict):
        return "; ".join(_describe(v, f"{prefix}{k}.") for k, v in messages.items())
    if isinstance(messages, list):
        return "; ".join(_describe(m, prefix) for m in messages)
    return f"{prefix.rstrip('.')}: {messages}"


ALWAYS_RETURNED = frozenset({"schemas", "id"})


def project(document: dict[str, Any], attributes: list[str], excluded: list[str]) -> dict[str, Any]:
    """Apply ``attributes`` / ``excludedAttributes`` (RFC 7644 section 3.9) to a resource."""
    if attributes:
        wanted = _paths(attributes)
        return _keep(document, wanted, enterprise=False)
    if excluded:
        return _drop(document, _paths(excluded))
    return document


_Path = tuple[bool, str, str | None]


def _paths(texts: list[str]) -> set[_Path]:
    """Requested attribute paths; unknown ones are ignored, as RFC 7644 section 3.9 allows."""
    paths: set[_Path] = set()
    for text in texts:
        text = text.strip()
        if text.lower() == attrs.ENTERPRISE_USER.lower():
            paths.add((True, "", None))
            continue
        try:
            path = parse_attr_path(text, InvalidValue)
            ref = attrs.resolve(path.urn, path.attr, path.sub)
        except (ScimError, LookupError):
            continue
        paths.add((ref.enterprise, ref.attribute.name, ref.sub.name if ref.sub else None))
    return paths


def _keep(document: dict[str, Any], wanted: set[_Path], *, enterprise: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in document.items():
        if key == attrs.ENTERPRISE_USER and not enterprise:
            if (True, "", None) in wanted:
                result[key] = value
            elif any(e for e, _, _ in wanted):
                kept = _keep(value, wanted, enterprise=True)
                if kept:
                    result[key] = kept
            continue
        if (not enterprise and key in ALWAYS_RETURNED) or (enterprise, key, None) in wanted:
            result[key] = value
        else:
            subs = {s for e, name, s in wanted if e == enterprise and name == key and s}
            if subs:
                result[key] = _subset(value, subs, keep=True)
    return result


def _drop(document: dict[str, Any], unwanted: set[_Path]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in document.items():
        enterprise = key == attrs.ENTERPRISE_USER
        if enterprise and (True, "", None) in unwanted:
            continue
        if enterprise:
            inner = {k: v for k, v in value.items() if (True, k, None) not in unwanted}
            for name in list(inner):
                subs = {s for e, n, s in unwanted if e and n == name and s}
                if subs:
                    inner[name] = _subset(inner[name], subs, keep=False)
            if inner:
                result[key] = inner
            continue
        if key not in ALWAYS_RETURNED and (False, key, None) in unwanted:
            continue
        subs = {s for e, n, s in unwanted if not e and n == key and s}
        result[key] = _subset(value, subs, keep=False) if subs else value
    return result


def _subset(value: Any, subs: set[str], *, keep: bool) -> Any:
    if isinstance(value, list):
        return [_subset(item, subs, keep=keep) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if (k in subs) == keep}
    return value


def version_tag(resource: DirectoryUser | UserRecord) -> str:
    return f'W/"{resource.version}"'


def render_user(
    user: DirectoryUser | UserRecord, base: str, groups: Sequence[GroupRef] = ()
) -> dict[str, Any]:
    """The full User resource, as stored; ``groups`` are the groups the user is in."""
    record = user if isinstance(user, UserRecord) else UserRecord.of(user)
    document: dict[str, Any] = {
        "schemas": [attrs.CORE_USER],
        "id": record.resource_id,
        "userName": record.user_name,
    }
    if record.external_id is not None:
        document["externalId"] = record.external_id
    if record.display_name is not None:
        document["displayName"] = record.display_name
    document.update(record.profile)
    if "active" in record.profile:
        document["active"] = record.active
    for attribute, item in record.values:
        document.setdefault(attribute, []).append(item)
    if groups:
        document["groups"] = [
            {
                "value": group.resource_id,
                "$ref": f"{base}/Groups/{group.resource_id}",
                "display": group.display_name,
                "type": "direct",
            }
            for group in groups
        ]
    if record.enterprise:
        document["schemas"].append(attrs.ENTERPRISE_USER)
        document[attrs.ENTERPRISE_USER] = dict(record.enterprise)
    document["meta"] = {
        "resourceType": "User",
        "created": _timestamp(record.created_at),
        "lastModified": _timestamp(record.updated_at),
        "location": f"{base}/Users/{record.resource_id}",
        "version": version_tag(record),
    }
    return document


def _timestamp(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))
