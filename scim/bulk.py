"""``POST /Bulk`` (RFC 7644 section 3.7): many writes in one request, each on its own.

Every operation runs the same code as its own endpoint, in its own unit of work: one that
fails (a refused seat, a duplicate) rolls back alone and the others are kept. When seats run
out midway, each further user creation is refused with 403 ``userLimitReached`` and recorded
(I8); the owners get one refusal digest for the whole burst, because refusals collect in
the organization's open digest. ``bulkId`` references (``"bulkId:qwerty"`` in data or path)
are replaced by the id the operation declaring them created; an operation waiting for a
later one is run after it (one topological order, computed once). ``failOnErrors`` stops
processing after that many errors.
The body limit (``maxPayloadSize``) is the application's, enforced before the body is
read; ``maxOperations`` is enforced here. Both answer 413.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from graphlib import CycleError, TopologicalSorter
from typing import Any

from flask import Response
from sqlalchemy.exc import IntegrityError

from app.errors import SeatgateError
from scim import attributes as attrs
from scim.blueprint import BodyReader, json_body, route, scim_response
from scim.endpoints import (
    MAX_BULK_OPERATIONS,
    create_user,
    delete_user,
    patch_user,
    replace_user,
)
from scim.errors import InvalidSyntax, InvalidValue, ScimError, error_body, to_scim
from scim.group_endpoints import create_group, delete_group, patch_group, replace_group

BULK_ID_PREFIX = "bulkId:"

Create = Callable[..., Response]
Change = Callable[[str, BodyReader, str | None], Response]
Delete = Callable[[str, str | None], Response]
_CREATE: dict[str, Create] = {"users": create_user, "groups": create_group}
_CHANGE: dict[tuple[str, str], Change] = {
    ("PUT", "users"): replace_user,
    ("PATCH", "users"): patch_user,
    ("PUT", "groups"): replace_group,
    ("PATCH", "groups"): patch_group,
}
_DELETE: dict[str, Delete] = {"users": delete_user, "groups": delete_group}


class TooManyOperations(ScimError):
    status = 413


class _Unresolved(Exception):
    """A ``bulkId`` no operation of the request created (it failed, or nobody declares it)."""


def _bulk() -> Response:
    body = json_body()
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A Bulk body must be a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or attrs.BULK_REQUEST not in schemas:
        raise InvalidSyntax(f"A Bulk body must list the schema {attrs.BULK_REQUEST}.")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("A Bulk body needs a non-empty 'Operations' array.")
    if len(operations) > MAX_BULK_OPERATIONS:
        raise TooManyOperations(
            f"{len(operations)} operations; at most {MAX_BULK_OPERATIONS} per Bulk request."
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 1
    ):
        raise InvalidValue("failOnErrors must be a positive integer.")
    return scim_response(
        {"schemas": [attrs.BULK_RESPONSE], "Operations": _run_all(operations, fail_on_errors)}
    )


def _run_all(operations: list[Any], fail_on_errors: int | None) -> list[dict[str, Any]]:
    """Run the operations in one topological order of their ``bulkId`` references.

    Each operation's references are read once and the order is computed once
    (:class:`graphlib.TopologicalSorter`, linear in operations and references), so a request
    costs the same in any order of its operations: rescanning the waiting operations on
    every pass made 1000 chained ones take 30 s in reverse order (issue 19). Operations
    become ready in waves, each run in request order. Those left when no more can run are in
    a cycle or wait for one: each is answered 409.
    """
    declared = {
        op["bulkId"]: i
        for i, op in enumerate(operations)
        if isinstance(op, Mapping) and isinstance(op.get("bulkId"), str)
    }
    order: TopologicalSorter[int] = TopologicalSorter()
    for index, operation in enumerate(operations):
        if not isinstance(operation, Mapping):
            order.add(index)  # answered 400 when its turn comes
            continue
        own = operation.get("bulkId")
        awaited = _references(operation) - {own if isinstance(own, str) else ""}
        order.add(index, *{declared[ref] for ref in awaited if ref in declared})
    with suppress(CycleError):  # the operations outside it still run; the rest get 409
        order.prepare()
    created: dict[str, str] = {}
    results: dict[int, dict[str, Any]] = {}
    errors = 0
    while order.is_active():
        for index in sorted(order.get_ready()):
            if fail_on_errors is not None and errors >= fail_on_errors:
                return [results[i] for i in sorted(results)]
            result = _run(operations[index], created)
            results[index] = result
            if int(result["status"]) >= 400:
                errors += 1
            order.done(index)
    for index in range(len(operations)):
        if index not in results:
            results[index] = _failure(
                operations[index], 409, "invalidValue", "Its bulkId references form a cycle."
            )
    return [results[i] for i in sorted(results)]


def _references(value: Any) -> set[str]:
    """The bulkIds an operation's path or data refers to."""
    if isinstance(value, str):
        _, marker, ref = value.rpartition(BULK_ID_PREFIX)
        return {ref} if marker and ref else set()
    if isinstance(value, Mapping):
        inner = {k: v for k, v in value.items() if k != "bulkId"}
        return set().union(*(_references(v) for v in inner.values())) if inner else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _resolve(value: Any, created: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        head, marker, ref = value.rpartition(BULK_ID_PREFIX)
        if not marker or not ref:
            return value
        if ref not in created:
            raise _Unresolved(ref)
        return head + created[ref]
    if isinstance(value, Mapping):
        return {k: _resolve(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, created) for v in value]
    return value


def _run(operation: Any, created: dict[str, str]) -> dict[str, Any]:
    if not isinstance(operation, Mapping):
        return _failure({}, 400, "invalidSyntax", "Each operation must be a JSON object.")
    try:
        response = _dispatch(operation, created)
    except _Unresolved as missing:
        return _failure(
            operation,
            409,
            "invalidValue",
            f"bulkId {missing.args[0]!r} names no resource this request created.",
        )
    except (ScimError, SeatgateError, IntegrityError) as error:
        status, scim_type, detail = to_scim(error)
        return _failure(operation, status, scim_type, detail)
    result = _outcome(operation, response.status_code)
    if "Location" in response.headers:
        result["location"] = response.headers["Location"]
    if "ETag" in response.headers:
        result["version"] = response.headers["ETag"]
    bulk_id = operation.get("bulkId")
    if response.status_code == 201 and isinstance(bulk_id, str):
        created[bulk_id] = response.headers["Location"].rsplit("/", 1)[1]
    return result


def _dispatch(operation: Mapping[str, Any], created: Mapping[str, str]) -> Response:
    method = str(operation.get("method", "")).upper()
    path = operation.get("path")
    if not isinstance(path, str):
        raise InvalidSyntax("Each operation needs a 'path' such as '/Users'.")
    parts = _resolve(path, created).strip("/").split("/")
    kind = parts[0].lower()
    version = operation.get("version")
    if_match = version if isinstance(version, str) else None
    data = _resolve(operation.get("data"), created)
    if method == "POST" and len(parts) == 1 and kind in _CREATE:
        return _CREATE[kind](data, render=False)
    if len(parts) == 2 and parts[1]:
        if method == "DELETE" and kind in _DELETE:
            return _DELETE[kind](parts[1], if_match)
        change = _CHANGE.get((method, kind))
        if change is not None:
            return change(parts[1], lambda: data, if_match)
    raise InvalidSyntax(
        f"{method or 'No method'} {path} is not a Bulk operation; use POST /Users or /Groups, "
        "or PUT, PATCH or DELETE /Users/{id} or /Groups/{id}."
    )


def _outcome(operation: Mapping[str, Any], status: int) -> dict[str, Any]:
    result: dict[str, Any] = {"method": str(operation.get("method", "")).upper()}
    if isinstance(operation.get("bulkId"), str):
        result["bulkId"] = operation["bulkId"]
    result["status"] = str(status)
    return result


def _failure(
    operation: Mapping[str, Any], status: int, scim_type: str | None, detail: str
) -> dict[str, Any]:
    result = _outcome(operation, status)
    result["response"] = error_body(status, scim_type, detail)
    return result


route("/Bulk", POST=_bulk)
