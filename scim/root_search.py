"""``POST /.search`` at the root (RFC 7644 section 3.4.3): Users, then Groups, in one list.

Index paging counts through the Users first and continues into the Groups; ``sortBy``
orders each type. A filter naming an attribute one type lacks simply matches none of that
type; one that neither type has is a 400. Cursors are per resource type, so the root
search refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Response
from sqlalchemy.orm import Session

from scim.blueprint import route, scim_response
from scim.endpoints import parse_search, search_request, search_users, unit
from scim.errors import InvalidFilter, InvalidValue
from scim.group_endpoints import search_groups
from scim.paging import Paging, list_response
from scim.query import Search

Searcher = Callable[[Session, Search], tuple[int, list[dict[str, Any]], int | None]]


def _search_everything() -> Response:
    search = parse_search(search_request())
    if search.paging.after is not None:
        raise InvalidValue("Cursors are per resource type: search /Users or /Groups with one.")
    start, count = search.paging.start, search.paging.count
    resources: list[dict[str, Any]] = []
    total = 0
    refusals: list[InvalidFilter] = []
    with unit(write=False) as session:
        searchers: list[Searcher] = [search_users, search_groups]
        for searcher in searchers:
            try:
                matched, _, _ = searcher(session, replace(search, paging=Paging(1, 0)))
            except InvalidFilter as refusal:
                refusals.append(refusal)
                continue
            skip = max(start - 1 - total, 0)
            room = count - len(resources)
            if room > 0 and skip < matched:
                _, page, _ = searcher(session, replace(search, paging=Paging(skip + 1, room)))
                resources.extend(page)
            total += matched
    if len(refusals) == len(searchers):
        raise refusals[0]
    return scim_response(list_response(resources, total, search.paging))


route("/.search", POST=_search_everything)
