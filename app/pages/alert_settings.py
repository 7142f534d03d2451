"""``/settings/billing/alerts``: the owners' alert thresholds and webhooks."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from sqlalchemy.orm import Session

from app import database_of, settings_of
from app.alerts.policy import policy_of, set_policy
from app.alerts.webhooks import add_webhook, list_webhooks, remove_webhook
from app.errors import InvalidInput, SeatgateError
from app.pages import blueprint
from app.pages.access import Viewer, require_owner
from app.pages.billing import actor_of, check_csrf, render_page
from app.whole_numbers import whole_number


@blueprint.get("/settings/billing/alerts")
def alert_settings() -> str:
    with database_of(current_app).unit_of_work(write=False) as session:
        return _render(session, require_owner(session))


@blueprint.post("/settings/billing/alerts")
def change_alert_settings() -> str | tuple[str, int]:
    check_csrf()
    settings = settings_of(current_app)
    with database_of(current_app).unit_of_work() as session:
        viewer = require_owner(session)
        organization = viewer.organization
        action = request.form.get("action")
        try:
            if action == "policy":
                set_policy(
                    session,
                    organization.id,
                    percents=_percents(request.form.get("percents", "")),
                    seats_left=_optional_int(request.form.get("seats_left", ""), "Seats left"),
                    digest_minutes=whole_number(
                        request.form.get("digest_minutes", ""), "Refusal digest window (minutes)"
                    ),
                )
                return _render(session, viewer)
            if action == "add_webhook":
                url = request.form.get("url", "").strip()
                if settings.is_production and not url.lower().startswith("https://"):
                    raise InvalidInput("Webhook URLs must use https.")
                added = add_webhook(
                    session,
                    organization,
                    url,
                    actor=actor_of(viewer),
                    allow_private_addresses=settings.webhooks.allow_private_addresses,
                )
                return _render(session, viewer, new_secret=added.secret)
            if action == "remove_webhook":
                webhook_id = whole_number(request.form.get("webhook_id", ""), "Webhook")
                remove_webhook(session, organization, webhook_id, actor=actor_of(viewer))
                return _render(session, viewer)
            raise InvalidInput("Unknown action.")
        except SeatgateError as error:  # validated before anything is written
            typed = request.form if action == "policy" else None
            return _render(session, viewer, error=error.message, typed=typed), 400


def _render(session: Session, viewer: Viewer, **context: Any) -> str:
    """The page; ``typed`` (a refused thresholds form) is shown again as it was typed."""
    return render_page(
        "billing/alerts.html",
        viewer,
        viewer.organization.contract,
        policy=policy_of(session, viewer.organization.id),
        webhooks=list_webhooks(session, viewer.organization),
        https_only=settings_of(current_app).is_production,
        public_only=not settings_of(current_app).webhooks.allow_private_addresses,
        **context,
    )


def _percents(text: str) -> tuple[int, ...]:
    parts = [part.strip().rstrip("%") for part in text.split(",") if part.strip()]
    return tuple(whole_number(part, "Percent of seats in use", high=100) for part in parts)


def _optional_int(text: str, name: str) -> int | None:
    return whole_number(text, name) if text.strip() else None
