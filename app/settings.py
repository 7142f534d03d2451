"""Typed settings, loaded once at start-up.

Layers, last wins: ``config/default.toml`` → the file named by ``SEATGATE_CONFIG`` →
``SEATGATE_*`` environment variables → overrides passed by the caller (tests). The merged
mapping is validated into a frozen :class:`Settings`; any bad value raises
:class:`SettingsError` naming the setting, so a misconfigured instance never starts half-working.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

from app.outbound import is_public, literal_address

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config" / "default.toml"
DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - a known-bad value
ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_RETENTION_DAYS = 36_500  # a century: a cut-off date further back is no date at all


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///instance/seatgate.sqlite3"
    pool_size: int = 5
    pool_timeout: int = 10
    sqlite_busy_timeout: int = 30
    connect_timeout: int = 5
    statement_timeout: int = 30
    retry_after: int = 5

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2


@dataclass(frozen=True)
class LimitSettings:
    """Abuse limits. ``requests_per_minute`` is per bearer token; 0 turns the limit off."""

    requests_per_minute: int = 12000
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class OperatorSettings:
    """Where operators hear about problems no organization owner can fix (ledger drift)."""

    email: str = ""
    webhook_url: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    """Outgoing mail for owner alerts. An empty ``url`` keeps e-mail alerts waiting."""

    url: str = ""
    from_address: str = "seatgate <seatgate@localhost>"
    timeout: int = 10


@dataclass(frozen=True)
class AlertSettings:
    """How the alert outbox is delivered (see :mod:`app.alerts.delivery`)."""

    deliver_in_background: bool = True
    poll_interval: int = 5
    batch_size: int = 20
    lease_seconds: int = 300
    retry_base_seconds: int = 30
    retry_max_seconds: int = 3600
    webhook_timeout: int = 10


@dataclass(frozen=True)
class WebhookSettings:
    """Outbound calls to URLs others chose (owners' webhooks, the operators' drift webhook).

    ``allow_private_addresses`` lets them reach loopback and private addresses, for a receiver
    on a developer's machine or a test's 127.0.0.1; production refuses it (see
    :mod:`app.outbound`).
    """

    allow_private_addresses: bool = False


@dataclass(frozen=True)
class SsoSettings:
    """SAML sign-in and the session token the product behind the gateway trusts."""

    token_audience: str = "seatgate-product"  # noqa: S105 - a name, not a secret
    token_lifetime_seconds: int = 900
    # Owner pages renew a session while it is in use, never past this age (an absolute limit).
    absolute_session_seconds: int = 12 * 3600
    cookie_name: str = "seatgate_session"
    authn_request_lifetime_seconds: int = 600


@dataclass(frozen=True)
class SignInLinkSettings:
    """Owners' e-mail sign-in links: how many may be asked for per hour, per address and
    per client (the caller's IP address); 0 turns a limit off."""

    per_address_per_hour: int = 5
    per_client_per_hour: int = 20


@dataclass(frozen=True)
class LogSettings:
    """Connection logs kept for the customer's IT admin (see :mod:`app.connection_logs`)."""

    retention_days: int = 30
    # SCIM request rows are written in batches at most this many milliseconds apart (0: at once).
    scim_flush_ms: int = 1000


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    base_url: str = ""  # empty: where `seatgate serve` listens (see served_base_url)
    # Production refuses an http:// base URL (cookies and SAML responses would travel in
    # clear) unless this says the operator knows better (e.g. TLS ends in front, on loopback).
    allow_insecure_base_url: bool = False
    log_level: str = "INFO"
    redis_url: str = ""
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    sso: SsoSettings = field(default_factory=SsoSettings)
    sign_in_links: SignInLinkSettings = field(default_factory=SignInLinkSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    operators: OperatorSettings = field(default_factory=OperatorSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every layer and validate the result.

    ``overrides`` uses the same nested shape as the TOML files (``{"database": {"url": …}}``).
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = _read_toml(DEFAULT_CONFIG_FILE, "config/default.toml")
    config_file = environ.get("SEATGATE_CONFIG")
    if config_file:
        _deep_merge(merged, _read_toml(Path(config_file), "SEATGATE_CONFIG"))
    _deep_merge(merged, _from_environment(environ))
    if overrides:
        _deep_merge(merged, dict(overrides))
    settings: Settings = _build(Settings, merged, prefix="")
    if not settings.base_url:
        settings = replace(settings, base_url=served_base_url(settings.server))
    _check(settings)
    return settings


def served_base_url(server: ServerSettings) -> str:
    """``http://<server.host>:<server.port>``: the URL of ``seatgate serve`` on this machine.

    Why: without a ``base_url`` of its own, the URLs seatgate prints and puts in pages (SCIM
    base, SAML endpoints, sign-in links) must lead where it listens; a fixed default would
    disagree as soon as the port changes. A wildcard bind address (``0.0.0.0``, ``::``) is
    reached at 127.0.0.1.
    """
    host = server.host if server.host not in {"", "0.0.0.0", "::"} else "127.0.0.1"  # noqa: S104
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{server.port}"


def _read_toml(path: Path, name: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"{name}: file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{name}: {path} is not valid TOML: {exc}") from exc


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Map ``SEATGATE_DATABASE_URL`` to ``{"database": {"url": …}}`` and so on."""
    result: dict[str, Any] = {}
    for top in fields(Settings):
        hint = get_type_hints(Settings)[top.name]
        if is_dataclass(hint):
            for inner in fields(hint):
                key = f"SEATGATE_{top.name}_{inner.name}".upper()
                if key in environ:
                    result.setdefault(top.name, {})[inner.name] = environ[key]
        else:
            key = f"SEATGATE_{top.name}".upper()
            if key in environ:
                result[top.name] = environ[key]
    return result


def _deep_merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _build(cls: Any, values: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(values, Mapping):
        raise SettingsError(f"{prefix.rstrip('.')}: expected a table of settings")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"{prefix}{unknown[0]}: unknown setting")
    kwargs: dict[str, Any] = {}
    for item in fields(cls):
        if item.name not in values:
            continue
        name = f"{prefix}{item.name}"
        hint = hints[item.name]
        raw = values[item.name]
        if is_dataclass(hint):
            kwargs[item.name] = _build(hint, raw, prefix=f"{name}.")
        else:
            kwargs[item.name] = _coerce(name, hint, raw)
    return cls(**kwargs)


def _coerce(name: str, hint: Any, raw: Any) -> Any:
    if hint is int:
        if isinstance(raw, bool):
            raise SettingsError(f"{name}: expected an integer, got {raw!r}")
        try:
            value = int(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{name}: expected an integer, got {raw!r}") from exc
        if value < 0:
            raise SettingsError(f"{name}: must not be negative, got {value}")
        return value
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    if not isinstance(raw, str):
        raise SettingsError(f"{name}: expected a string, got {raw!r}")
    return raw


def _check(settings: Settings) -> None:
    if settings.env not in ENVIRONMENTS:
        raise SettingsError(f"env: must be one of {', '.join(ENVIRONMENTS)}, got {settings.env!r}")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise SettingsError(f"log_level: must be one of {', '.join(LOG_LEVELS)}")
    if not settings.secret_key:
        raise SettingsError("secret_key: must not be empty")
    if settings.is_production and settings.secret_key == DEVELOPMENT_SECRET_KEY:
        raise SettingsError(
            "secret_key: production refuses the development secret key; set SEATGATE_SECRET_KEY"
        )
    if settings.is_production and len(settings.secret_key) < 32:
        raise SettingsError("secret_key: must be at least 32 characters in production")
    base = urlsplit(settings.base_url)
    if base.scheme not in {"http", "https"} or not base.netloc or base.query or base.fragment:
        raise SettingsError(
            f"base_url: expected an absolute http(s) URL without query, got {settings.base_url!r}"
        )
    if settings.is_production and base.scheme == "http" and not settings.allow_insecure_base_url:
        raise SettingsError(
            f"base_url: production needs an https:// URL, got {settings.base_url!r} "
            "(set allow_insecure_base_url = true to accept it)"
        )
    url = settings.database.url
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise SettingsError(
            f"database.url: expected a sqlite:// or postgresql:// URL, got {_redact(url)!r}"
        )
    if not 1 <= settings.server.port <= 65535:
        raise SettingsError(f"server.port: must be between 1 and 65535, got {settings.server.port}")
    if settings.server.workers < 1:
        raise SettingsError("server.workers: must be at least 1")
    if not 60 <= settings.sso.token_lifetime_seconds <= 86400:
        raise SettingsError("sso.token_lifetime_seconds: must be between 60 and 86400")
    if not 60 <= settings.sso.absolute_session_seconds <= 7 * 86400:
        raise SettingsError("sso.absolute_session_seconds: must be between 60 and 604800")
    if not 60 <= settings.sso.authn_request_lifetime_seconds <= 3600:
        raise SettingsError("sso.authn_request_lifetime_seconds: must be between 60 and 3600")
    if not settings.sso.token_audience or not settings.sso.cookie_name:
        raise SettingsError("sso.token_audience and sso.cookie_name: must not be empty")
    if not 1 <= settings.logs.retention_days <= MAX_RETENTION_DAYS:
        raise SettingsError(f"logs.retention_days: must be between 1 and {MAX_RETENTION_DAYS}")
    if settings.logs.scim_flush_ms > 60_000:
        raise SettingsError("logs.scim_flush_ms: must be at most 60000 (one minute)")
    if settings.database.pool_size < 1:
        raise SettingsError("database.pool_size: must be at least 1")
    for name in ("connect_timeout", "statement_timeout", "retry_after"):
        if getattr(settings.database, name) < 1:
            raise SettingsError(f"database.{name}: must be at least 1 second")
    if settings.redis_url and urlsplit(settings.redis_url).scheme not in {"redis", "rediss"}:
        raise SettingsError(
            f"redis_url: expected redis:// or rediss://, got {_redact(settings.redis_url)!r}"
        )
    if settings.limits.max_body_bytes < 1024:
        raise SettingsError("limits.max_body_bytes: must be at least 1024")
    _check_webhooks(settings)
    if settings.operators.email and "@" not in settings.operators.email:
        raise SettingsError("operators.email: expected an e-mail address")
    _check_alerts(settings)


def _check_webhooks(settings: Settings) -> None:
    """Production never calls internal addresses; an operator URL that spells one (no DNS is
    asked at start-up) is refused now rather than when the drift it reports happens."""
    allow_private = settings.webhooks.allow_private_addresses
    if allow_private and settings.is_production:
        raise SettingsError(
            "webhooks.allow_private_addresses: production refuses true (webhooks and the "
            "operators' webhook may only call public internet addresses)"
        )
    hook = settings.operators.webhook_url
    if not hook:
        return
    parts = urlsplit(hook)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(f"operators.webhook_url: expected an http(s) URL, got {hook!r}")
    address = literal_address(parts.hostname)
    if not allow_private and address is not None and not is_public(address):
        raise SettingsError(
            f"operators.webhook_url: {parts.hostname} is not a public internet address "
            "(set webhooks.allow_private_addresses = true outside production)"
        )


def _check_alerts(settings: Settings) -> None:
    smtp = settings.smtp.url
    if smtp:
        parts = urlsplit(smtp)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise SettingsError(
                f"smtp.url: expected smtp://[user:password@]host[:port][?starttls=true] "
                f"or smtps://..., got {_redact(smtp)!r}"
            )
    if "@" not in settings.smtp.from_address:
        raise SettingsError("smtp.from_address: expected an e-mail address")
    alerts = settings.alerts
    for name in ("poll_interval", "batch_size", "lease_seconds", "retry_base_seconds"):
        if getattr(alerts, name) < 1:
            raise SettingsError(f"alerts.{name}: must be at least 1")
    if alerts.retry_max_seconds < alerts.retry_base_seconds:
        raise SettingsError("alerts.retry_max_seconds: must not be below retry_base_seconds")
    if settings.smtp.timeout < 1 or alerts.webhook_timeout < 1:
        raise SettingsError("smtp.timeout and alerts.webhook_timeout: must be at least 1 second")
    if alerts.lease_seconds <= max(settings.smtp.timeout, alerts.webhook_timeout):
        raise SettingsError(
            "alerts.lease_seconds: must be longer than smtp.timeout and alerts.webhook_timeout "
            "(a claimed alert must stay claimed while it is being sent)"
        )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def resolve_sqlite_path(url: str) -> str:
    """Anchor a relative SQLite path at the project root, so the CWD never picks the file."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite://" or url.startswith("sqlite:////"):
        return url
    relative = url[len(prefix) :]
    if relative.startswith(":memory:") or Path(relative).is_absolute():
        return url
    return prefix + str(PROJECT_ROOT / relative)
