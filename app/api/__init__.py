"""The JSON API under ``/api/v1`` (owners' billing data). Routes live in submodules."""

from flask import Blueprint

blueprint = Blueprint("api", __name__, url_prefix="/api/v1", cli_group=None)

from app.api import alerts, auth, billing, errors, logs, openapi  # noqa: E402,F401 - registers routes
