"""The Group resource: SCIM JSON ⇄ :class:`app.groups.GroupChange`, projection and PATCH.

A group is small (a name, an external id, a list of member ids), so PATCH works on that
state rather than on a document: each operation changes the state, and the domain then
writes only the difference. Accepted because Okta and Entra ID send them: ``add`` with a
list of members; ``remove`` with path ``members[value eq "id"]`` (Okta); ``Remove`` with
path ``members`` and a list of ``{"value": id, "$ref": null}`` (Entra ID); ``replace``
without a path whose value holds ``displayName`` (and a read-only ``id``, ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.groups import GroupChange
from app.models import DirectoryGroup
from scim import attributes as attrs
from scim.errors import InvalidPath, InvalidSyntax, InvalidValue, NoTarget
from scim.filter_match import item_filter
from scim.filters import parse_patch_path
from scim.patch import patch_operations

MEMBERS = attrs.find(attrs.GROUP_ATTRIBUTES, "members")
READ_ONLY = frozenset({"id", "meta", "schemas"})
ALWAYS_RETURNED = frozenset({"schemas", "id"})


@dataclass(frozen=True)
class GroupState:
    display_name: str | None
    external_id: str | None
    member_ids: tuple[str, ...]

    def change(self) -> GroupChange:
        if not self.display_name:
            raise InvalidValue("displayName is required.")
        return GroupChange(self.display_name, self.external_id, self.member_ids)


def state_of(group: DirectoryGroup) -> GroupState:
    return GroupState(
        group.display_name,
        group.external_id,
        tuple(m.user.resource_id for m in group.memberships),
    )


def _name(key: Any) -> str:
    """A body key or path without the Group schema's URN, lower-cased."""
    text = str(key)
    prefix = attrs.CORE_GROUP.lower() + ":"
    return text[len(prefix) :].lower() if text.lower().startswith(prefix) else text.lower()


def parse_group(document: Any) -> GroupChange:
    """A POST or PUT body. Unknown and read-only attributes are ignored (RFC 7643 2.2)."""
    if not isinstance(document, Mapping):
        raise InvalidSyntax("The request body must be a JSON object.")
    state = GroupState(None, None, ())
    for key, value in document.items():
        state = _set(state, _name(key), value, "replace")
    return state.change()


def _set(state: GroupState, name: str, value: Any, op: str) -> GroupState:
    if name == "displayname":
        return replace(state, display_name=_text(value, "displayName"))
    if name == "externalid":
        return replace(state, external_id=None if value is None else _text(value, "externalId"))
    if name == "members":
        listed = member_ids(value)
        if op == "add":
            return replace(state, member_ids=tuple(dict.fromkeys(state.member_ids + listed)))
        return replace(state, member_ids=tuple(dict.fromkeys(listed)))
    return state  # read-only (id, meta, schemas) and unknown attributes are ignored


def _text(value: Any, name: str) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # Entra ID wraps single values in arrays
    if isinstance(value, Mapping) and set(value) == {"value"}:
        value = value["value"]
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be a string.")
    return value


def member_ids(value: Any) -> tuple[str, ...]:
    """The User ids of a ``members`` value: a list (or one) of ``{"value": id, ...}``."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidValue('Each member must be an object such as {"value": "<user id>"}.')
        lowered = {str(k).lower(): v for k, v in item.items()}
        member_type = lowered.get("type")
        if member_type is not None and str(member_type).lower() != "user":
            raise InvalidValue("A group's members must be Users; groups cannot be nested.")
        member_id = lowered.get("value")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue('Each member needs a "value": the id of a User.')
        ids.append(member_id)
    return tuple(ids)


def apply_group_patch(state: GroupState, body: Any) -> GroupState:
    """The state after every operation of a PatchOp body."""
    for operation in patch_operations(body):
        state = _apply(state, operation)
    return state


def _apply(state: GroupState, operation: Any) -> GroupState:
    if not isinstance(operation, Mapping):
        raise InvalidSyntax("Each operation must be a JSON object.")
    op = str(operation.get("op", "")).lower()
    if op not in {"add", "replace", "remove"}:
        raise InvalidSyntax(
            f"Unknown PATCH op {operation.get('op')!r}; use add, replace or remove."
        )
    path, value = operation.get("path"), operation.get("value")
    if path is None or (isinstance(path, str) and not path.strip()):
        if op == "remove":
            raise NoTarget("A remove operation needs a path.")
        if not isinstance(value, Mapping):
            raise InvalidValue(f"An {op} without a path needs an object value.")
        for key, inner in value.items():
            state = _set(state, _name(key), inner, op)
        return state
    if not isinstance(path, str):
        raise InvalidPath("The path must be a string.")
    target = parse_patch_path(path)
    if target.path.urn is not None and target.path.urn.lower() != attrs.CORE_GROUP.lower():
        raise InvalidPath(f"{path!r}: a Group has no attribute of {target.path.urn}.")
    name = target.path.attr.lower()
    if name in READ_ONLY:
        return state
    if name not in {"displayname", "externalid", "members"}:
        raise InvalidPath(f"{path!r}: a Group has no attribute {target.path.attr!r}.")
    if target.path.sub is not None or target.sub is not None:
        raise InvalidPath(f'{path!r}: change members as a whole ({{"value": id}} items).')
    if name != "members":
        if target.value_filter is not None:
            raise InvalidPath(f"{path!r}: [...] applies to members only.")
        if op != "remove":
            return _set(state, name, value, op)
        if name == "displayname":
            raise InvalidValue("displayName is required; it cannot be removed.")
        return replace(state, external_id=None)
    if target.value_filter is not None:
        if op != "remove":
            raise InvalidPath(f"{path!r}: add members with path 'members' and a list of values.")
        assert MEMBERS is not None
        selects = item_filter(target.value_filter, MEMBERS)
        kept = tuple(i for i in state.member_ids if not selects({"value": i, "type": "User"}))
        return replace(state, member_ids=kept)
    if op != "remove":
        return _set(state, "members", value, op)
    if value is None:
        return replace(state, member_ids=())
    doomed = set(member_ids(value))
    return replace(state, member_ids=tuple(i for i in state.member_ids if i not in doomed))


def version_tag(group: DirectoryGroup) -> str:
    return f'W/"{group.version}"'


def render_group(group: DirectoryGroup, base: str, *, members: bool = True) -> dict[str, Any]:
    """The Group resource; ``members=False`` skips loading them (``excludedAttributes``)."""
    document: dict[str, Any] = {
        "schemas": [attrs.CORE_GROUP],
        "id": group.resource_id,
        "displayName": group.display_name,
    }
    if group.external_id is not None:
        document["externalId"] = group.external_id
    if members and group.memberships:
        document["members"] = [
            {
                "value": m.user.resource_id,
                "$ref": f"{base}/Users/{m.user.resource_id}",
                "type": "User",
            }
            for m in group.memberships
        ]
    document["meta"] = {
        "resourceType": "Group",
        "created": _timestamp(group.created_at),
        "lastModified": _timestamp(group.updated_at),
        "location": f"{base}/Groups/{group.resource_id}",
        "version": version_tag(group),
    }
    return document


def _timestamp(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def wants_members(attributes: list[str], excluded: list[str]) -> bool:
    """Whether a projection keeps ``members`` (so whether to load them at all)."""
    if attributes:
        return any(_name(a).split(".")[0] == "members" for a in attributes)
    return not any(_name(e) == "members" for e in excluded)


def project_group(
    document: dict[str, Any], attributes: list[str], excluded: list[str]
) -> dict[str, Any]:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 section 3.9) on a Group."""
    if attributes:
        wanted = [_name(a).partition(".") for a in attributes]
        result: dict[str, Any] = {}
        for key, value in document.items():
            subs = {sub for name, _, sub in wanted if name == key.lower()}
            if key in ALWAYS_RETURNED or "" in subs:
                result[key] = value
            elif subs:
                result[key] = _subset(value, subs, keep=True)
        return result
    if excluded:
        unwanted = [_name(e).partition(".") for e in excluded]
        result = {}
        for key, value in document.items():
            subs = {sub for name, _, sub in unwanted if name == key.lower()}
            if key in ALWAYS_RETURNED or not subs:
                result[key] = value
            elif "" not in subs:
                result[key] = _subset(value, subs, keep=False)
        return result
    return document


def _subset(value: Any, subs: set[str], *, keep: bool) -> Any:
    if isinstance(value, list):
        return [_subset(item, subs, keep=keep) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if (k.lower() in subs) == keep}
    return value
