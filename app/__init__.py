"""seatgate core: the application factory.

Blueprints are imported inside the factory so that ``app`` never imports ``scim`` or ``sso``
at module level (the dependency runs the other way).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from app.connection_logs import ScimRequestRecorder
from app.db import Database
from app.logs import configure_logging
from app.settings import PROJECT_ROOT, Settings, load_settings

DATABASE_EXTENSION = "seatgate.database"
SETTINGS_EXTENSION = "seatgate.settings"
SCIM_LOG_EXTENSION = "seatgate.scim_request_log"


class Seatgate(Flask):
    """Flask, remembering which of its functions are coroutines.

    Flask asks :func:`inspect.iscoroutinefunction` of every hook and view on every request
    (ten times for a SCIM read, ~4 % of its CPU); a function's answer never changes, so the
    synchronous ones are remembered, weakly: per-request functions (``after_this_request``)
    still go away.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synchronous: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if func in self._synchronous:
            return func
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            with contextlib.suppress(TypeError):  # a builtin has no weak reference: not kept
                self._synchronous.add(func)
        return wrapped


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build an application. ``test_config`` overrides settings (same shape as the TOML)."""
    settings = load_settings(overrides=test_config)
    configure_logging(settings.log_level)
    flask_app = Seatgate(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    flask_app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "test",
        # Flask's own cookie carries the pages' CSRF token: never sent in clear behind https,
        # never sent with another site's POST.
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    flask_app.extensions[SETTINGS_EXTENSION] = settings
    database = flask_app.extensions[DATABASE_EXTENSION] = Database(settings.database)
    flask_app.extensions[SCIM_LOG_EXTENSION] = ScimRequestRecorder(
        database, settings.logs.scim_flush_ms / 1000
    )

    from app import observability, web
    from app.alerts.commands import alerts_commands, webhook_commands
    from app.api import blueprint as api_blueprint
    from app.pages import blueprint as pages_blueprint
    from app.self_serve_commands import commands as self_serve_commands
    from scim import blueprint as scim_blueprint
    from sso import blueprint as sso_blueprint

    web.init_app(flask_app)
    observability.init_app(flask_app)
    flask_app.register_blueprint(scim_blueprint)
    flask_app.register_blueprint(sso_blueprint)
    flask_app.register_blueprint(pages_blueprint)
    if settings.env == "development":
        from app.pages.dev import blueprint as dev_blueprint

        flask_app.register_blueprint(dev_blueprint)
    flask_app.register_blueprint(api_blueprint)
    flask_app.register_blueprint(alerts_commands)
    flask_app.register_blueprint(webhook_commands)
    flask_app.register_blueprint(self_serve_commands)
    return flask_app


def database_of(flask_app: Flask) -> Database:
    database: Database = flask_app.extensions[DATABASE_EXTENSION]
    return database


def settings_of(flask_app: Flask) -> Settings:
    settings: Settings = flask_app.extensions[SETTINGS_EXTENSION]
    return settings


def scim_request_log_of(flask_app: Flask) -> ScimRequestRecorder:
    recorder: ScimRequestRecorder = flask_app.extensions[SCIM_LOG_EXTENSION]
    return recorder
