"""PATCH (RFC 7644 section 3.5.2) applied to a User document.

Operations apply, in order, to the canonical document of the stored user; the result is then
validated like a PUT body, so PATCH and PUT cannot disagree on what is valid and the seat
rules run once on the final state. Accepted beyond the letter of the RFC, because Okta and
Entra ID send it: ``op`` in any case, no-path values with ``name.givenName`` or
``urn:…:attribute`` keys, booleans as strings, and ``replace`` on
``emails[type eq "work"].value`` creating the missing item.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from scim import attributes as attrs
from scim.attributes import Attribute, AttributeRef
from scim.errors import InvalidPath, InvalidSyntax, InvalidValue, NoTarget
from scim.filter_match import item_filter
from scim.filters import And, Compare, Filter, PatchPath, parse_patch_path
from scim.resources import assignments, conform, resolve_slot, set_slot

MAX_OPERATIONS = 1000


def patch_operations(body: Any) -> list[Any]:
    """The operations of a PatchOp body (Users and Groups alike), once its envelope is valid."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("The request body must be a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or attrs.PATCH_OP not in schemas:
        raise InvalidSyntax(f"A PATCH body must list the schema {attrs.PATCH_OP}.")
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("A PATCH body needs a non-empty 'Operations' array.")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidSyntax(f"At most {MAX_OPERATIONS} operations per PATCH.")
    return operations


def apply_patch(document: dict[str, Any], body: Any) -> dict[str, Any]:
    """The document after every operation of a PatchOp body; ``document`` is not modified."""
    operations = patch_operations(body)
    result = copy.deepcopy(document)
    for operation in operations:
        _apply_operation(result, operation)
    return result


def _apply_operation(document: dict[str, Any], operation: Any) -> None:
    if not isinstance(operation, Mapping):
        raise InvalidSyntax("Each operation must be a JSON object.")
    op = str(operation.get("op", "")).lower()
    if op not in {"add", "replace", "remove"}:
        raise InvalidSyntax(
            f"Unknown PATCH op {operation.get('op')!r}; use add, replace or remove."
        )
    path = operation.get("path")
    value = operation.get("value")
    if path is None or (isinstance(path, str) and not path.strip()):
        if op == "remove":
            raise NoTarget("A remove operation needs a path.")
        if not isinstance(value, Mapping):
            raise InvalidValue(f"An {op} without a path needs an object value.")
        for assigned, assigned_value in assignments(value):
            _assign(document, assigned, assigned_value, op)
        return
    if not isinstance(path, str):
        raise InvalidPath("The path must be a string.")
    if path.strip().lower() == attrs.ENTERPRISE_USER.lower():
        if op == "remove":
            document.pop(attrs.ENTERPRISE_USER, None)
            return
        if not isinstance(value, Mapping):
            raise InvalidValue("The enterprise extension takes an object value.")
        _apply_operation(document, {"op": op, "value": {attrs.ENTERPRISE_USER: value}})
        return
    target = parse_patch_path(path)
    try:
        slot = resolve_slot(target.path)
    except LookupError as exc:
        raise InvalidPath(f"{path!r}: {exc}") from exc
    if slot is None:
        return  # read-only attributes (id, meta, groups) are ignored
    if target.value_filter is not None and not slot.attribute.multi_valued:
        raise InvalidPath(f"{path!r}: [...] applies to multi-valued attributes only.")
    if target.value_filter is not None:
        _apply_filtered(document, slot, target, value, op)
    elif op == "remove":
        _remove(document, slot, value)
    else:
        shape = slot.sub or slot.attribute
        _assign(document, slot, conform(shape, value), op)


def _assign(document: dict[str, Any], slot: AttributeRef, value: Any, op: str) -> None:
    container = slot.container(document, create=True)
    assert container is not None
    name = slot.attribute.name
    current = container.get(name)
    if slot.sub is not None:
        set_slot(document, slot, value)
        return
    if slot.attribute.multi_valued:
        added = value if isinstance(value, list) else [value]
        kept = current if op == "add" and isinstance(current, list) else []
        if any(isinstance(i, dict) and _truthy(i.get("primary")) for i in added):
            for item in kept:  # a new primary demotes the old one (RFC 7644 3.5.2.1)
                if isinstance(item, dict) and "primary" in item:
                    item["primary"] = False
        container[name] = kept + [i for i in added if i not in kept]
    elif slot.attribute.sub_attributes and isinstance(value, dict) and isinstance(current, dict):
        container[name] = {**current, **value}
    else:
        container[name] = value


def _apply_filtered(
    document: dict[str, Any], slot: AttributeRef, target: PatchPath, value: Any, op: str
) -> None:
    assert target.value_filter is not None
    container = slot.container(document, create=op != "remove")
    name = slot.attribute.name
    items: list[Any] = list(container.get(name) or []) if container is not None else []
    sub = None
    if target.sub is not None:
        sub = slot.attribute.sub(target.sub)
        if sub is None:
            raise InvalidPath(f"{slot.attribute.name} has no sub-attribute {target.sub!r}.")
    selects = item_filter(target.value_filter, slot.attribute)
    matched = [i for i, item in enumerate(items) if isinstance(item, dict) and selects(item)]
    if op == "remove":
        if sub is None:
            items = [item for i, item in enumerate(items) if i not in matched]
        else:
            for i in matched:
                items[i].pop(sub.name, None)
        if container is not None:
            container[name] = items
        return
    assert container is not None
    if not matched:
        created = _item_from_filter(target.value_filter, slot.attribute)
        if created is None:
            raise NoTarget(f"No {name} value matches the filter of this {op}.")
        items.append(created)
        matched = [len(items) - 1]
    for i in matched:
        if sub is not None:
            items[i][sub.name] = conform(sub, value)
        else:
            shaped = conform(slot.attribute.item(), value)
            if not isinstance(shaped, dict):
                raise InvalidValue(f"A value for {name}[...] must be an object.")
            base = items[i] if op == "add" else _selected_keys(items[i], target.value_filter)
            items[i] = {**base, **shaped}
    container[name] = items


def _selected_keys(item: dict[str, Any], tree: Filter) -> dict[str, Any]:
    """On replace, the keys that selected the item (``type``) survive unless overridden."""
    selected = _equalities(tree) or {}
    return {k: v for k, v in item.items() if k in selected}


def _remove(document: dict[str, Any], slot: AttributeRef, value: Any) -> None:
    container = slot.container(document, create=False)
    if container is None:
        return
    name = slot.attribute.name
    if slot.sub is None:
        if slot.attribute.multi_valued and value is not None:
            listed = value if isinstance(value, list) else [value]
            doomed = {str(v.get("value")) if isinstance(v, Mapping) else str(v) for v in listed}
            container[name] = [
                i
                for i in container.get(name) or []
                if not (isinstance(i, dict) and str(i.get("value")) in doomed)
            ]
        else:
            container.pop(name, None)
        return
    current = container.get(name)
    for item in current if isinstance(current, list) else [current]:
        if isinstance(item, dict):
            item.pop(slot.sub.name, None)


def _item_from_filter(tree: Filter, parent: Attribute) -> dict[str, Any] | None:
    """The item an ``eq``-only filter describes (``type eq "work"``), to create it."""
    equalities = _equalities(tree)
    if not equalities:
        return None
    item: dict[str, Any] = {}
    for key, literal in equalities.items():
        sub = parent.sub(key)
        if sub is None:
            return None
        item[sub.name] = conform(sub, literal)
    return item


def _equalities(tree: Filter) -> dict[str, Any] | None:
    if isinstance(tree, Compare) and tree.op == "eq" and tree.path.sub is None:
        return {tree.path.attr: tree.value}
    if isinstance(tree, And):
        left, right = _equalities(tree.left), _equalities(tree.right)
        if left is not None and right is not None:
            return {**left, **right}
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
