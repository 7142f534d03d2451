"""``/Groups``: parse, call :mod:`app.groups`, render. Each request is one unit of work.

``excludedAttributes=members`` (Entra ID's lookup) never loads the members at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, request
from sqlalchemy.orm import Session

from app import groups
from app.models import DirectoryGroup
from scim.blueprint import BodyReader, actor, base_url, caller, json_body, route, scim_response
from scim.endpoints import (
    RESOURCE_ID_LENGTH,
    check_if_match,
    if_match,
    not_modified,
    parse_search,
    projection_args,
    search_request,
    unit,
)
from scim.errors import ResourceNotFound
from scim.filters import storable
from scim.group_query import run_search
from scim.groups import (
    apply_group_patch,
    parse_group,
    project_group,
    render_group,
    state_of,
    version_tag,
    wants_members,
)
from scim.paging import list_response
from scim.query import Search


def _load(session: Session, resource_id: str, *, with_members: bool = True) -> DirectoryGroup:
    group = None
    if len(resource_id) <= RESOURCE_ID_LENGTH and storable(resource_id):
        group = groups.get_group(
            session, caller().organization_id, resource_id, with_members=with_members
        )
    if group is None:
        raise ResourceNotFound(f"No Group with id {resource_id!r}.")
    return group


def _group_response(group: DirectoryGroup, status: int = 200) -> Response:
    attributes, excluded = projection_args()
    document = render_group(group, base_url(), members=wants_members(attributes, excluded))
    headers = {"ETag": version_tag(group)}
    if status == 201:
        headers["Location"] = document["meta"]["location"]
    return scim_response(project_group(document, attributes, excluded), status, headers)


def _search(parameters: Mapping[str, Any]) -> Response:
    search = parse_search(parameters)
    with unit(write=False) as session:
        total, resources, next_key = search_groups(session, search)
    return scim_response(list_response(resources, total, search.paging, next_key))


def search_groups(session: Session, search: Search) -> tuple[int, list[dict[str, Any]], int | None]:
    """``totalResults``, the page's rendered Groups and the next cursor key of a search."""
    with_members = wants_members(search.attributes, search.excluded)
    total, found, next_key = run_search(
        session, caller().organization_id, search, with_members=with_members
    )
    base = base_url()
    resources = [
        project_group(
            render_group(group, base, members=with_members), search.attributes, search.excluded
        )
        for group in found
    ]
    return total, resources, next_key


def create_group(body: Any, *, render: bool = True) -> Response:
    """``render=False`` (Bulk) answers with the Location and ETag only, sparing the body."""
    change = parse_group(body)
    with unit(write=True) as session:
        group = groups.create_group(session, caller().organization_id, change, actor=actor())
        if not render:
            location = f"{base_url()}/Groups/{group.resource_id}"
            return scim_response(None, 201, {"Location": location, "ETag": version_tag(group)})
        return _group_response(_load(session, group.resource_id), 201)


def _get_group(resource_id: str) -> Response:
    attributes, excluded = projection_args()
    with unit(write=False) as session:
        group = _load(session, resource_id, with_members=wants_members(attributes, excluded))
        return not_modified(version_tag(group)) or _group_response(group)


def replace_group(resource_id: str, read_body: BodyReader, if_match: str | None) -> Response:
    with unit(write=True) as session:
        group = _load(session, resource_id)  # first: another organization's id is 404 (I7)
        change = parse_group(read_body())
        check_if_match(if_match, version_tag(group), "Group")
        groups.update_group(session, group, change, actor=actor())
        return _group_response(group)


def patch_group(resource_id: str, read_body: BodyReader, if_match: str | None) -> Response:
    with unit(write=True) as session:
        group = _load(session, resource_id)  # first: another organization's id is 404 (I7)
        body = read_body()
        check_if_match(if_match, version_tag(group), "Group")
        change = apply_group_patch(state_of(group), body).change()
        groups.update_group(session, group, change, actor=actor())
        return _group_response(group)


def delete_group(resource_id: str, if_match: str | None) -> Response:
    with unit(write=True) as session:
        group = _load(session, resource_id)
        check_if_match(if_match, version_tag(group), "Group")
        groups.delete_group(session, group, actor=actor())
    return scim_response(None, 204)


route(
    "/Groups",
    GET=lambda: _search(request.args),
    POST=lambda: create_group(json_body()),
)
route("/Groups/.search", POST=lambda: _search(search_request()))
route(
    "/Groups/<resource_id>",
    GET=_get_group,
    PUT=lambda resource_id: replace_group(resource_id, json_body, if_match()),
    PATCH=lambda resource_id: patch_group(resource_id, json_body, if_match()),
    DELETE=lambda resource_id: delete_group(resource_id, if_match()),
)
