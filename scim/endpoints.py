"""SCIM endpoints: discovery and ``/Users``. Parse, call :mod:`app.directory`, render.

The helpers here (units of work, projection arguments, ETags, search parsing) serve
``/Groups`` too, and each write takes its body and ``If-Match`` as arguments so that Bulk
runs exactly the code a single request runs. Each request is one unit of work. A seat
refusal propagates out of the unit (which has recorded it, I8) to the blueprint's error
handler, which renders the SCIM 403.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from flask import Response, current_app, request
from sqlalchemy.orm import Session

from app import directory, waiting_list
from app.departures import remove_directory_user
from app.directory import GroupRef, UserRecord
from app.errors import NoFreeSeat
from app.groups import groups_of
from app.models import DirectoryUser
from scim import attributes as attrs
from scim import discovery
from scim.blueprint import (
    BodyReader,
    actor,
    base_url,
    caller,
    json_body,
    read_as_caller,
    read_session,
    read_unit,
    route,
    scim_response,
    write_unit,
)
from scim.errors import (
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    PreconditionFailed,
    ResourceNotFound,
)
from scim.filters import parse_attr_path, parse_filter, storable
from scim.paging import Paging, list_response, parse_paging
from scim.patch import apply_patch
from scim.query import Search, run_search, user_name_probe
from scim.resources import parse_user, project, render_user, version_tag

RESOURCE_ID_LENGTH = 36  # a UUID
MAX_BULK_OPERATIONS = 1000


def unit(*, write: bool) -> AbstractContextManager[Session]:
    return write_unit() if write else read_unit()


def projection_args() -> tuple[list[str], list[str]]:
    if not request.query_string:  # most reads: nothing to parse
        return [], []
    return split_names(request.args.get("attributes")), split_names(
        request.args.get("excludedAttributes")
    )


def split_names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    raise InvalidValue("attributes and excludedAttributes take a list of attribute names.")


def _user_response(
    session: Session | None,
    user: DirectoryUser | UserRecord,
    status: int = 200,
    groups: Sequence[GroupRef] | None = None,
) -> Response:
    """The User's response; ``session`` (``None``: the request's read transaction) is used
    only when neither ``groups`` nor the record carries them."""
    if groups is None and isinstance(user, UserRecord):
        groups = user.groups
    if groups is None:
        groups = groups_of(session or read_session(), [user.member_id]).get(user.member_id, [])
    document = render_user(user, base_url(), groups)
    headers = {"ETag": version_tag(user)}
    if status == 201:
        headers["Location"] = document["meta"]["location"]
    return scim_response(project(document, *projection_args()), status, headers)


def _possible_id(resource_id: str) -> bool:
    """Whether ``resource_id`` could name a User at all (others are 404 without a query)."""
    return len(resource_id) <= RESOURCE_ID_LENGTH and storable(resource_id)


def _load(session: Session, resource_id: str) -> DirectoryUser:
    user = None
    if _possible_id(resource_id):
        user = directory.get_user(session, caller().organization_id, resource_id)
    if user is None:
        raise ResourceNotFound(f"No User with id {resource_id!r}.")
    return user


def etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def check_if_match(if_match: str | None, current: str, kind: str) -> None:
    """``If-Match`` with another version means the client edits a stale copy: 412."""
    if if_match is None:
        return
    tags = etags(if_match)
    if "*" not in tags and current.removeprefix("W/") not in tags:
        raise PreconditionFailed(
            f"The {kind} changed since you read it: it is now version {current}."
        )


def not_modified(current: str) -> Response | None:
    """The 304 for a ``GET`` whose ``If-None-Match`` names the current version."""
    header = request.headers.get("If-None-Match")
    if header and current.removeprefix("W/") in etags(header):
        return scim_response(None, 304, {"ETag": current})
    return None


# --- discovery -------------------------------------------------------------------------


def _service_provider_config() -> Response:
    return scim_response(
        discovery.service_provider_config(
            base_url(),
            bulk_max_operations=MAX_BULK_OPERATIONS,
            bulk_max_payload=int(current_app.config["MAX_CONTENT_LENGTH"]),
        )
    )


def _schemas() -> Response:
    documents = list(attrs.schema_documents(base_url()).values())
    return scim_response(list_response(documents, len(documents), Paging(1, len(documents))))


def _schema(schema_id: str) -> Response:
    document = attrs.schema_documents(base_url()).get(schema_id)
    if document is None:
        raise ResourceNotFound(f"No schema {schema_id!r}.")
    return scim_response(document)


def _resource_types() -> Response:
    documents = list(discovery.resource_types(base_url()).values())
    return scim_response(list_response(documents, len(documents), Paging(1, len(documents))))


def _resource_type(type_id: str) -> Response:
    document = discovery.resource_types(base_url()).get(type_id)
    if document is None:
        raise ResourceNotFound(f"No resource type {type_id!r}.")
    return scim_response(document)


# --- users -------------------------------------------------------------------------------


def _list_users() -> Response:
    return _search(request.args)


def search_request() -> Mapping[str, Any]:
    """The body of a ``POST .search``: a SearchRequest message."""
    body = json_body()
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A search body must be a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or attrs.SEARCH_REQUEST not in schemas:
        raise InvalidSyntax(f"A search body must list the schema {attrs.SEARCH_REQUEST}.")
    return body


def _search_users() -> Response:
    return _search(search_request())


def _search(parameters: Mapping[str, Any]) -> Response:
    try:
        search = parse_search(parameters)
    except Exception:
        caller()  # an unknown token is 401 before any complaint about the query
        raise
    total, resources, next_key = search_users(None, search)
    return scim_response(list_response(resources, total, search.paging, next_key))


def search_users(
    session: Session | None, search: Search
) -> tuple[int, list[dict[str, Any]], int | None]:
    """``totalResults``, the page's rendered Users and the next cursor key of a search.

    ``session``: ``None`` for the request's read transaction, opened only if needed (the
    ``userName`` probe, the identity providers' most frequent call, needs none).
    """
    user_name = user_name_probe(search)
    if user_name is None:
        total, users, next_key = run_search(
            session or read_session(), caller().organization_id, search
        )
    else:  # the identity providers' match probe: one indexed statement, token included
        found = _caller_user(user_name=user_name)
        total, users, next_key = (1, [found], None) if found is not None else (0, [], None)
    base = base_url()
    resources = [
        project(render_user(user, base, user.groups or ()), search.attributes, search.excluded)
        for user in users
    ]
    return total, resources, next_key


def _caller_user(
    *, resource_id: str | None = None, user_name: str | None = None
) -> UserRecord | None:
    """The caller's organization's user with this id or ``userName``, with its groups; the
    token is checked in the same statement when it is not checked yet."""
    return read_as_caller(
        lambda database, digest: directory.read_user_for_token(
            database, digest, resource_id=resource_id, user_name=user_name
        ),
        lambda session, organization_id: directory.read_user(
            session, organization_id, resource_id=resource_id, user_name=user_name
        ),
    )


def parse_search(parameters: Mapping[str, Any]) -> Search:
    text = parameters.get("filter")
    if text is not None and not isinstance(text, str):
        raise InvalidFilter("The filter must be a string.")
    sort_by = parameters.get("sortBy")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValue("sortBy must be an attribute name.")
    order = str(parameters.get("sortOrder") or "ascending").lower()
    if order not in {"ascending", "descending"}:
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'.")
    paging = parse_paging(parameters)
    if paging.after is not None and sort_by:
        raise InvalidValue("Cursor pages follow creation order; sortBy needs index paging.")
    return Search(
        filter=parse_filter(text) if text and text.strip() else None,
        sort_by=parse_attr_path(sort_by, InvalidValue) if sort_by else None,
        descending=order == "descending",
        paging=paging,
        attributes=split_names(parameters.get("attributes")),
        excluded=split_names(parameters.get("excludedAttributes")),
    )


# Writes take their body and If-Match as arguments so that Bulk runs exactly the same code.


def create_user(body: Any, *, render: bool = True) -> Response:
    """``render=False`` (Bulk) answers with the Location and ETag only, sparing the body."""
    profile = parse_user(body)
    try:
        with unit(write=True) as session:
            user = directory.provision(session, caller().organization_id, profile, actor=actor())
    except NoFreeSeat:  # already recorded for the owners (I8); keep the user for later
        with unit(write=True) as session:
            waiting_list.wait_for_scim(session, caller().organization_id, profile)
        raise
    # Rendered after the commit (the user's attributes stay loaded): on SQLite every other
    # writer waits for the write lock while a transaction is open.
    if not render:
        location = f"{base_url()}/Users/{user.resource_id}"
        return scim_response(None, 201, {"Location": location, "ETag": version_tag(user)})
    return _user_response(None, user, 201, groups=())  # new: in no group yet


def _get_user(resource_id: str) -> Response:
    user = None
    if _possible_id(resource_id):
        user = _caller_user(resource_id=resource_id)
    else:
        caller()  # an unknown token is 401 whatever the id
    if user is None:
        raise ResourceNotFound(f"No User with id {resource_id!r}.")
    return not_modified(version_tag(user)) or _user_response(None, user)


def replace_user(resource_id: str, read_body: BodyReader, if_match: str | None) -> Response:
    with unit(write=True) as session:
        user = _load(session, resource_id)  # first: another organization's id is 404 (I7)
        profile = parse_user(read_body())
        check_if_match(if_match, version_tag(user), "User")
        directory.update(session, user, profile, actor=actor())
        return _user_response(session, user)


def patch_user(resource_id: str, read_body: BodyReader, if_match: str | None) -> Response:
    with unit(write=True) as session:
        user = _load(session, resource_id)  # first: another organization's id is 404 (I7)
        body = read_body()
        check_if_match(if_match, version_tag(user), "User")
        patched = apply_patch(render_user(user, base_url()), body)
        directory.update(session, user, parse_user(patched), actor=actor())
        return _user_response(session, user)


def delete_user(resource_id: str, if_match: str | None) -> Response:
    with unit(write=True) as session:
        user = _load(session, resource_id)
        check_if_match(if_match, version_tag(user), "User")
        remove_directory_user(session, user, actor=actor())
    return scim_response(None, 204)


def if_match() -> str | None:
    return request.headers.get("If-Match")


route("/ServiceProviderConfig", GET=_service_provider_config)
route("/Schemas", GET=_schemas)
route("/Schemas/<schema_id>", GET=_schema)
route("/ResourceTypes", GET=_resource_types)
route("/ResourceTypes/<type_id>", GET=_resource_type)
route("/Users", GET=_list_users, POST=lambda: create_user(json_body()))
route("/Users/.search", POST=_search_users)
route(
    "/Users/<resource_id>",
    GET=_get_user,
    PUT=lambda resource_id: replace_user(resource_id, json_body, if_match()),
    PATCH=lambda resource_id: patch_user(resource_id, json_body, if_match()),
    DELETE=lambda resource_id: delete_user(resource_id, if_match()),
)
