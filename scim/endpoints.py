"""SCIM endpoints: discovery and ``/Users``. Parse, call :mod:`app.directory`, render.

Each request is one unit of work. A seat refusal propagates out of the unit (which has
recorded it, I8) to the blueprint's error handler, which renders the SCIM 403.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Response, current_app, request
from sqlalchemy.orm import Session

from app import database_of, directory
from app.models import DirectoryUser
from scim import attributes as attrs
from scim import discovery
from scim.blueprint import actor, base_url, caller, json_body, route, scim_response
from scim.errors import (
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    PreconditionFailed,
    ResourceNotFound,
)
from scim.filters import parse_attr_path, parse_filter, storable
from scim.patch import apply_patch
from scim.query import Search, run_search
from scim.resources import parse_user, project, render_user, version_tag

# Far beyond any organization's size, and within every engine's OFFSET range.
MAX_START_INDEX = 1_000_000_000
RESOURCE_ID_LENGTH = 36  # a UUID


@contextmanager
def _unit(*, write: bool) -> Iterator[Session]:
    with database_of(current_app).unit_of_work(write=write) as session:
        yield session


def _projection_args() -> tuple[list[str], list[str]]:
    return _split(request.args.get("attributes")), _split(request.args.get("excludedAttributes"))


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    raise InvalidValue("attributes and excludedAttributes take a list of attribute names.")


def _user_response(user: DirectoryUser, status: int = 200) -> Response:
    document = render_user(user, base_url())
    headers = {"ETag": version_tag(user)}
    if status == 201:
        headers["Location"] = document["meta"]["location"]
    return scim_response(project(document, *_projection_args()), status, headers)


def _load(session: Session, resource_id: str) -> DirectoryUser:
    user = None
    if len(resource_id) <= RESOURCE_ID_LENGTH and storable(resource_id):
        user = directory.get_user(session, caller().organization_id, resource_id)
    if user is None:
        raise ResourceNotFound(f"No User with id {resource_id!r}.")
    return user


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _check_if_match(user: DirectoryUser) -> None:
    """``If-Match`` with another version means the client edits a stale copy: 412."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _tags(header)
    if "*" not in tags and version_tag(user).removeprefix("W/") not in tags:
        raise PreconditionFailed(
            f"The User changed since you read it: it is now version {version_tag(user)}."
        )


# --- discovery -------------------------------------------------------------------------


def _service_provider_config() -> Response:
    return scim_response(discovery.service_provider_config(base_url()))


def _schemas() -> Response:
    documents = list(attrs.schema_documents(base_url()).values())
    return scim_response(discovery.list_response(documents, len(documents), 1))


def _schema(schema_id: str) -> Response:
    document = attrs.schema_documents(base_url()).get(schema_id)
    if document is None:
        raise ResourceNotFound(f"No schema {schema_id!r}.")
    return scim_response(document)


def _resource_types() -> Response:
    documents = list(discovery.resource_types(base_url()).values())
    return scim_response(discovery.list_response(documents, len(documents), 1))


def _resource_type(type_id: str) -> Response:
    document = discovery.resource_types(base_url()).get(type_id)
    if document is None:
        raise ResourceNotFound(f"No resource type {type_id!r}.")
    return scim_response(document)


# --- users -------------------------------------------------------------------------------


def _list_users() -> Response:
    return _search(request.args)


def _search_users() -> Response:
    body = json_body()
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A search body must be a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or attrs.SEARCH_REQUEST not in schemas:
        raise InvalidSyntax(f"A search body must list the schema {attrs.SEARCH_REQUEST}.")
    return _search(body)


def _search(parameters: Mapping[str, Any]) -> Response:
    search = _parse_search(parameters)
    with _unit(write=False) as session:
        total, users = run_search(session, caller().organization_id, search)
        base = base_url()
        resources = [
            project(render_user(user, base), search.attributes, search.excluded) for user in users
        ]
    return scim_response(discovery.list_response(resources, total, search.start))


def _parse_search(parameters: Mapping[str, Any]) -> Search:
    text = parameters.get("filter")
    if text is not None and not isinstance(text, str):
        raise InvalidFilter("The filter must be a string.")
    sort_by = parameters.get("sortBy")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValue("sortBy must be an attribute name.")
    order = str(parameters.get("sortOrder") or "ascending").lower()
    if order not in {"ascending", "descending"}:
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'.")
    start = min(max(_integer(parameters, "startIndex", 1), 1), MAX_START_INDEX)
    count = min(max(_integer(parameters, "count", discovery.MAX_RESULTS), 0), discovery.MAX_RESULTS)
    return Search(
        filter=parse_filter(text) if text and text.strip() else None,
        sort_by=parse_attr_path(sort_by, InvalidValue) if sort_by else None,
        descending=order == "descending",
        start=start,
        count=count,
        attributes=_split(parameters.get("attributes")),
        excluded=_split(parameters.get("excludedAttributes")),
    )


def _integer(parameters: Mapping[str, Any], name: str, default: int) -> int:
    value = parameters.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidValue(f"{name} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidValue(f"{name} must be an integer, got {value!r}.") from exc


def _create_user() -> Response:
    profile = parse_user(json_body())
    with _unit(write=True) as session:
        user = directory.provision(session, caller().organization_id, profile, actor=actor())
        return _user_response(user, 201)


def _get_user(resource_id: str) -> Response:
    with _unit(write=False) as session:
        user = _load(session, resource_id)
        header = request.headers.get("If-None-Match")
        if header and version_tag(user).removeprefix("W/") in _tags(header):
            return scim_response(None, 304, {"ETag": version_tag(user)})
        return _user_response(user)


def _replace_user(resource_id: str) -> Response:
    with _unit(write=True) as session:
        user = _load(session, resource_id)  # first: another organization's id is 404 (I7)
        profile = parse_user(json_body())
        _check_if_match(user)
        directory.update(session, user, profile, actor=actor())
        return _user_response(user)


def _patch_user(resource_id: str) -> Response:
    with _unit(write=True) as session:
        user = _load(session, resource_id)  # first: another organization's id is 404 (I7)
        body = json_body()
        _check_if_match(user)
        patched = apply_patch(render_user(user, base_url()), body)
        directory.update(session, user, parse_user(patched), actor=actor())
        return _user_response(user)


def _delete_user(resource_id: str) -> Response:
    with _unit(write=True) as session:
        user = _load(session, resource_id)
        _check_if_match(user)
        directory.remove(session, user, actor=actor())
    return scim_response(None, 204)


route("/ServiceProviderConfig", GET=_service_provider_config)
route("/Schemas", GET=_schemas)
route("/Schemas/<schema_id>", GET=_schema)
route("/ResourceTypes", GET=_resource_types)
route("/ResourceTypes/<type_id>", GET=_resource_type)
route("/Users", GET=_list_users, POST=_create_user)
route("/Users/.search", POST=_search_users)
# A search at the root covers every resource type (RFC 7644 section 3.4.3); Users is the only one.
route("/.search", POST=_search_users)
route(
    "/Users/<resource_id>", GET=_get_user, PUT=_replace_user, PATCH=_patch_user, DELETE=_delete_user
)
