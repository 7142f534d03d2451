"""HTTP plumbing shared by every blueprint: request ids, health, JSON errors."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from app import database_of

log = logging.getLogger("seatgate.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id() -> str:
    """The id of the current request: the caller's ``X-Request-Id`` if sane, else a new one."""
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
    return str(g.request_id)


def init_app(flask_app: Flask) -> None:
    @flask_app.before_request
    def _assign_request_id() -> None:
        # A before_request function that returns a value ends the request with it, so the
        # id is assigned here and request_id()'s return value is dropped.
        request_id()

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
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        return jsonify(error=error.name, detail=error.description), status

    @flask_app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error", extra={"request_id": request_id()})
        return jsonify(error="Internal Server Error", request_id=request_id()), 500
