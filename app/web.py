"""HTTP plumbing shared by every blueprint: request ids, health, errors, limits, headers.

Errors never show a stack trace or SQL: unexpected ones answer a generic message with the
request id (the details go to the log). A database that cannot be reached answers
503 with ``Retry-After`` (:class:`DatabaseUnavailable`); blueprints with their own error format
(SCIM) render the same exception in their format.
"""

from __future__ import annotations

import logging
import os
import re

from flask import Flask, Request, Response, current_app, g, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from werkzeug.exceptions import (
    HTTPException,
    RequestEntityTooLarge,
    ServiceUnavailable,
    TooManyRequests,
)
from werkzeug.wrappers import Response as BaseResponse

from app import database_of, settings_of
from app.models import utcnow
from app.rate_limits import RateLimiter
from app.sessions import IssuedToken
from app.settings import Settings

log = logging.getLogger("seatgate.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
RATE_LIMITER_EXTENSION = "seatgate.rate_limiter"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class DatabaseUnavailable(ServiceUnavailable):
    """503 while the database cannot be reached; the client retries after ``retry_after``."""

    description = "The service cannot reach its database at the moment. Retry shortly."


def database_unavailable(error: Exception) -> DatabaseUnavailable:
    """Log an outage (without the statement) and build the 503 to answer."""
    log.warning(
        "database unavailable",
        extra={"request_id": request_id(), "error": type(error.__cause__ or error).__name__},
    )
    return DatabaseUnavailable(retry_after=settings_of(current_app).database.retry_after)


def passthrough_headers(error: HTTPException) -> dict[str, str]:
    """Headers an HTTP error carries besides its body's type (``Retry-After``, ``Allow``)."""
    return {k: v for k, v in error.get_headers() if k.lower() != "content-type"}


def request_id() -> str:
    """The id of the current request: the caller's ``X-Request-Id`` if sane, else a new one."""
    found: str | None = g.get("request_id")
    if found is None:
        supplied = request.environ.get("HTTP_X_REQUEST_ID", "")
        # 128 random bits in hex, as a UUID4's hex would be, without building the UUID.
        found = g.request_id = supplied if _REQUEST_ID.match(supplied) else os.urandom(16).hex()
    return found


def set_session_cookie(response: BaseResponse, settings: Settings, issued: IssuedToken) -> None:
    """Hand the browser its gateway session: HttpOnly, Secure, SameSite=Lax, never cached,
    kept exactly as long as its token lives."""
    lifetime = issued.expires_at - utcnow()
    response.set_cookie(
        settings.sso.cookie_name,
        issued.token,
        max_age=max(0, int(lifetime.total_seconds())),
        secure=True,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session (the pages' CSRF token lives there), opened lazily.

    Flask builds the cookie's signer before it looks for the cookie, on every request; SCIM
    and API calls never carry one, and for them that signer was ~6 % of a SCIM read. Without
    the cookie the answer is the same new empty session, so it is given at once.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ  # no Cookie header: nothing to parse
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)


def init_app(flask_app: Flask) -> None:
    flask_app.session_interface = CookieSessions()
    settings = settings_of(flask_app)
    flask_app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_body_bytes
    flask_app.extensions[RATE_LIMITER_EXTENSION] = RateLimiter(
        settings.limits.requests_per_minute, settings.redis_url
    )
    strict_transport = settings.base_url.startswith("https://")

    @flask_app.before_request
    def _assign_request_id() -> None:
        request_id()  # returning a value here would replace the response

    @flask_app.before_request
    def _limit_body() -> None:
        """Refuse an announced oversized body before any work (a streamed one stops at read)."""
        if (request.content_length or 0) > settings.limits.max_body_bytes:
            raise RequestEntityTooLarge(
                f"The request body is larger than {settings.limits.max_body_bytes} bytes."
            )

    @flask_app.before_request
    def _limit_rate() -> None:
        """Each bearer token gets a budget of requests per minute, before it is even checked."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return
        limiter: RateLimiter = current_app.extensions[RATE_LIMITER_EXTENSION]
        wait = limiter.check(token.strip())
        if wait is not None:
            log.info("rate limited", extra={"request_id": request_id(), "retry_after": wait})
            raise TooManyRequests(
                f"More than {limiter.limit} requests a minute with this token; "
                f"retry in {wait} seconds.",
                retry_after=wait,
            )

    @flask_app.after_request
    def _stamp(response: Response) -> Response:
        headers = response.headers
        headers["X-Request-Id"] = request_id()
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # The header's prefix, not ``response.mimetype``: no parsing on every API response.
        if headers.get("Content-Type", "").startswith("text/html"):
            headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Referrer-Policy", "same-origin")
        if strict_transport:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    @flask_app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            with database_of(current_app).unit_of_work(write=False) as session:
                session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check failed")
            reply = jsonify(status="unavailable", database="unreachable")
            reply.headers["Retry-After"] = str(settings.database.retry_after)
            return reply, 503
        return jsonify(status="ok", database="ok"), 200

    @flask_app.errorhandler(sa_exc.OperationalError)
    @flask_app.errorhandler(sa_exc.InterfaceError)
    @flask_app.errorhandler(sa_exc.TimeoutError)
    def _database_outage(error: Exception) -> ResponseReturnValue:
        return _http_error(database_unavailable(error))

    @flask_app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # e.g. a redirect to sign-in
            return error.response
        status = error.code or 500
        headers = passthrough_headers(error)
        if not wants_html():
            return jsonify(error=error.name, detail=error.description), status, headers
        if status == 404:  # one page for every "not found", whatever the cause (R8)
            return render_template("errors/404.html"), 404
        page = render_template("errors/generic.html", title=error.name, message=error.description)
        return page, status, headers

    @flask_app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error", extra={"request_id": request_id()})
        if wants_html():
            message = "Something went wrong on our side. Please try again."
            page = render_template(
                "errors/generic.html", title="Error", message=message, request_id=request_id()
            )
            return page, 500
        return jsonify(error="Internal Server Error", request_id=request_id()), 500


def wants_html() -> bool:
    """A browser asking for a page (HTML preferred over JSON), not an API client."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
