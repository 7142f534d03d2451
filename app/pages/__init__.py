"""Owners' billing pages (server-rendered HTML, usable without JavaScript)."""

from flask import Blueprint

blueprint = Blueprint("pages", __name__)

from app.pages import alert_settings, billing, connection_logs, setup_links, signin  # noqa: E402,F401 - registers the routes
