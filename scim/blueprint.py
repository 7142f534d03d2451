"""The ``/scim/v2`` blueprint: authentication, SCIM responses, routing and errors.

Every route under ``/scim/v2`` answers in SCIM form: known paths dispatch on the method and
answer 405 (with ``Allow``) to others, unknown paths answer a SCIM 404, and every expected
failure is rendered by one handler through :func:`scim.errors.to_scim`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from app import connection_logs, database_of, json_output, scim_request_log_of, settings_of
from app.db import DATABASE_OUTAGES, Database
from app.errors import SeatgateError
from app.json_input import MalformedJson, parse_json
from app.ledger import Actor
from app.models import Source, utcnow
from app.scim_tokens import Authenticated, authenticate, presented_digest, touch
from app.web import database_unavailable, passthrough_headers, request_id
from scim.errors import (
    InvalidSyntax,
    InvalidValue,
    MethodNotAllowed,
    ResourceNotFound,
    ScimError,
    Unauthorized,
    UnsupportedMediaType,
    error_body,
    to_scim,
)
from scim.filters import storable

SCIM_MEDIA_TYPE = "application/scim+json"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
UNKNOWN_TOKEN = "The bearer token is unknown or revoked."  # noqa: S105 - a message, not a secret

log = logging.getLogger("seatgate.scim")
blueprint = Blueprint("scim", __name__, url_prefix="/scim/v2", cli_group=None)

Handler = Callable[..., Response]
T = TypeVar("T")
# Endpoints a signed-in member reaches with a gateway session instead of a SCIM token.
SESSION_ENDPOINTS = frozenset({f"{blueprint.name}.Me"})


def base_url() -> str:
    return settings_of(current_app).base_url.rstrip("/") + blueprint.url_prefix  # type: ignore[operator]


def scim_response(
    body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    payload = b"" if body is None else json_output.dumps(body)
    response = Response(payload, status=status, mimetype=SCIM_MEDIA_TYPE)
    response.headers.update(headers or {})
    return response


BodyReader = Callable[[], Any]  # reads the request body when called, so ids are checked first


def json_body() -> Any:
    """The request's JSON body (``application/scim+json`` or ``application/json``), read by
    :func:`app.json_input.parse_json` (depth bounded)."""
    mimetype = request.mimetype or ""
    if mimetype and mimetype not in {SCIM_MEDIA_TYPE, "application/json"}:
        raise UnsupportedMediaType(f"Send {SCIM_MEDIA_TYPE} or application/json, not {mimetype}.")
    try:
        body = parse_json(request.get_data(cache=True))
    except MalformedJson as exc:
        raise InvalidSyntax(exc.message) from exc
    if not _storable_json(body):
        raise InvalidValue("Text must be valid Unicode without NUL characters.")
    return body


def _storable_json(value: Any) -> bool:
    """Every string of a decoded JSON document, keys included, can be stored."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return all(_storable_json(item) for item in value)
    if isinstance(value, dict):
        return all(storable(k) and _storable_json(v) for k, v in value.items())
    return True


def actor() -> Actor:
    who = caller()
    return Actor(
        label=f"scim-token:{who.token_id}:{who.label}",
        source=Source.SCIM,
        request_id=request_id(),
    )


def route(rule: str, **handlers: Handler) -> None:
    """Serve ``rule`` with one handler per method; any other method answers 405."""
    allowed = sorted(handlers)
    endpoint = re.sub(r"\W+", "_", rule).strip("_")

    def dispatch(**kwargs: Any) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = handlers.get(method)
        if handler is None:
            raise MethodNotAllowed(
                f"{request.method} is not supported on {request.path}; use {', '.join(allowed)}.",
                allowed,
            )
        return handler(**kwargs)

    blueprint.add_url_rule(rule, endpoint=endpoint, view_func=dispatch, methods=ALL_METHODS)


@blueprint.after_request
def _log_request(response: Response) -> Response:
    """The connection log row an IT admin sees (authenticated requests only: the token
    decides the organization). Bodies are redacted; a failure here never fails the call."""
    who: Authenticated | None = g.get("scim_caller")
    if who is None:
        return response
    latency_ms = round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000)
    try:
        error = response.get_json(silent=True) if response.status_code >= 400 else None
        row = connection_logs.scim_request_row(
            who.organization_id,
            method=request.method,
            path=request.path,
            status=response.status_code,
            scim_type=error.get("scimType") if isinstance(error, dict) else None,
            latency_ms=latency_ms,
            body=_logged_body(),
            request_id=request_id(),
        )
        scim_request_log_of(current_app).record(row)
    except Exception:
        log.exception("could not write the SCIM request log", extra={"request_id": request_id()})
    return response


def _logged_body() -> Any:
    if request.method in ("GET", "HEAD"):  # SCIM reads carry no body: nothing to read
        return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return parse_json(raw)
    except MalformedJson:
        return {"unreadable": True}


# Requests whose handler looks the token up in the very statement that reads its data
# (:func:`read_as_caller`): a GET of one User, or the userName probe, is one round trip.
TOKEN_CHECKED_BY_HANDLER = frozenset(
    (f"{blueprint.name}.{endpoint}", method)
    for endpoint in ("Users_resource_id", "Users")
    for method in ("GET", "HEAD")
)


@blueprint.before_request
def _authenticate() -> None:
    """The bearer token decides the organization of the whole request (I7).

    The token is checked by one plain read outside any transaction, so a write opens only
    its own write transaction and a read its read transaction, when it needs one. The
    handlers named in :data:`TOKEN_CHECKED_BY_HANDLER` check it themselves, in the statement
    that reads their data.
    """
    if request.endpoint in SESSION_ENDPOINTS:
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("Send a SCIM token as 'Authorization: Bearer <token>'.")
    g.scim_presented = presented.strip()
    if (request.endpoint, request.method) not in TOKEN_CHECKED_BY_HANDLER:
        caller()


def caller() -> Authenticated:
    """Who the request's token speaks for; the token is checked on first use."""
    found: Authenticated | None = g.get("scim_caller")
    if found is None:
        found = accept_caller(authenticate(database_of(current_app), g.scim_presented))
    return found


def read_as_caller(
    together: Callable[[Database, str], tuple[Authenticated | None, T]],
    alone: Callable[[Session, int], T],
) -> T:
    """A read whose organization is the caller's: ``together(database, digest)`` checks the
    token in the same statement (when it is not checked yet), ``alone(session,
    organization_id)`` reads in the request's read transaction."""
    if g.get("scim_caller") is not None:
        return alone(read_session(), caller().organization_id)
    digest = presented_digest(g.scim_presented)
    if digest is None:
        raise Unauthorized(UNKNOWN_TOKEN)
    found, result = together(database_of(current_app), digest)
    accept_caller(found)
    return result


def accept_caller(found: Authenticated | None) -> Authenticated:
    """Admit a checked token for the rest of the request, or refuse the request (401)."""
    if found is None:
        raise Unauthorized(UNKNOWN_TOKEN)
    now = utcnow()
    if found.due_for_touch(now):
        with database_of(current_app).unit_of_work() as writer:
            touch(writer, found.token_id, now=now)
    g.scim_caller = found
    return found


def read_session() -> Session:
    """The request's read transaction, begun on first use and ended with the request."""
    session: Session | None = g.get("scim_read_session")
    if session is None:
        session = database_of(current_app).session(write=False)
        session.begin()
        g.scim_read_session = session
    return session


@contextmanager
def read_unit() -> Iterator[Session]:
    """:func:`read_session` as a unit of work: it stays open for the request's other reads."""
    yield read_session()


def write_unit() -> AbstractContextManager[Session]:
    """A write transaction; the request's read transaction ends first (it saw older data)."""
    _end_read_session()
    return database_of(current_app).unit_of_work(write=True)


@blueprint.teardown_request
def _end_read_session(_error: BaseException | None = None) -> None:
    session: Session | None = g.pop("scim_read_session", None)
    if session is not None:
        try:
            session.close()
        except DATABASE_OUTAGES:
            log.warning("could not end a read transaction", extra={"request_id": request_id()})


@blueprint.errorhandler(ScimError)
@blueprint.errorhandler(SeatgateError)
@blueprint.errorhandler(IntegrityError)
def _expected_error(error: Exception) -> Response:
    status, scim_type, detail = to_scim(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="seatgate SCIM"'
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allowed)
    log.info(
        "scim request refused",
        extra={"request_id": request_id(), "status": status, "scim_type": scim_type},
    )
    return scim_response(error_body(status, scim_type, detail), status, headers)


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    detail = error.description or error.name
    return scim_response(error_body(status, None, detail), status, passthrough_headers(error))


def _database_outage(error: Exception) -> Response:
    return _http_error(database_unavailable(error))


for _outage in DATABASE_OUTAGES:
    blueprint.register_error_handler(_outage, _database_outage)


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    log.exception("unhandled SCIM error", extra={"request_id": request_id()})
    detail = f"Internal error; quote request id {request_id()} to support."
    return scim_response(error_body(500, None, detail), 500)


def _not_found(rest: str) -> Response:
    raise ResourceNotFound(f"There is no SCIM endpoint at {request.path}.")


class AnyPath(PathConverter):
    """Like ``path``, but also matches control characters (``%0A``), so that every path under
    ``/scim/v2`` reaches this blueprint and answers in SCIM form."""

    regex = r"[^/][\s\S]*?"


@blueprint.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["scim_any"] = AnyPath


blueprint.add_url_rule(
    "/<scim_any:rest>", endpoint="unknown", view_func=_not_found, methods=ALL_METHODS
)
for root in ("", "/"):
    blueprint.add_url_rule(
        root,
        endpoint="unknown_root_slash" if root else "unknown_root",
        view_func=_not_found,
        defaults={"rest": ""},
        methods=ALL_METHODS,
    )
