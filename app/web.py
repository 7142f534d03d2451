"""HTTP plumbing shared by every blueprint: request ids, health, JSON errors."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app import database_of
from app.sessions import IssuedToken
from app.settings import Settings

log = logging.getLogger("seatgate.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id() -> str:
    """The id of the current request: the caller's ``X-Request-Id`` if sane, else a new one."""
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
    return str(g.request_id)


def set_session_cookie(response: BaseResponse, settings: Settings, issued: IssuedToken) -> None:
    """Hand the browser its gateway session: HttpOnly, Secure, SameSite=Lax, never cached."""
    response.set_cookie(
        settings.sso.cookie_name,
        issued.token,
        max_age=settings.sso.token_lifetime_seconds,
        secure=True,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"


def init_app(flask_app: Flask) -> None:
    @flask_app.before_request
    def _assign_request_id() -> None:
        request_id()  # returning a value here would replace the response

    @flask_app.after_request
    def _stamp(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @flask_app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            with database_of(current_app).unit_of_work(write=False) as session:
                session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check failed")
            return jsonify(status="unavailable", database="unreachable"), 503
        return jsonify(status="ok", database="ok"), 200

    @flask_app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # e.g. a redirect to sign-in
            return error.response
        status = error.code or 500
        if not wants_html():
            return jsonify(error=error.name, detail=error.description), status
        if status == 404:  # one page for every "not found", whatever the cause (R8)
            return render_template("errors/404.html"), 404
        page = render_template("errors/generic.html", title=error.name, message=error.description)
        return page, status

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
