"""Organizations' alert webhooks: registration, signing, and the HTTP call.

Each webhook has its own secret. Every request carries ``X-Seatgate-Timestamp`` (Unix
seconds) and ``X-Seatgate-Signature: sha256=<hex>``, the HMAC-SHA256 of
``timestamp + "." + body`` under that secret, so a receiver can check both origin and
freshness. The secret is stored as is (it must be read back to sign each call), unlike SCIM
tokens, which are only ever compared and so are stored hashed.

A webhook is a URL an owner chose, called from inside seatgate's network: it goes through
:mod:`app.outbound`, which refuses internal addresses when the webhook is added and again at
every call, and connects only to the address it checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit, outbound
from app.alerts import triggers
from app.errors import InvalidInput, NotFound
from app.ledger import Actor
from app.models import AlertDelivery, DeliveryStatus, Organization, Webhook, utcnow

SIGNATURE_HEADER = "X-Seatgate-Signature"
TIMESTAMP_HEADER = "X-Seatgate-Timestamp"
ALERT_ID_HEADER = "X-Seatgate-Alert-Id"
MAX_URL_LENGTH = 2048
MAX_WEBHOOKS_PER_ORGANIZATION = 10


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str


def add_webhook(
    session: Session,
    organization: Organization,
    url: str,
    *,
    actor: Actor,
    allow_private_addresses: bool,
) -> NewWebhook:
    """Register ``url``; the returned secret is shown once to the caller.

    ``url`` must name a public internet address (:func:`app.outbound.check_url`) unless
    ``allow_private_addresses`` (the ``webhooks`` setting) says otherwise.
    """
    url = url.strip()
    parts = urlsplit(url)
    if (
        len(url) > MAX_URL_LENGTH
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username
        or parts.fragment
    ):
        raise InvalidInput(
            "A webhook URL must be an absolute http(s) URL without credentials or fragment, "
            f"at most {MAX_URL_LENGTH} characters."
        )
    if len(list_webhooks(session, organization)) >= MAX_WEBHOOKS_PER_ORGANIZATION:
        raise InvalidInput(f"An organization has at most {MAX_WEBHOOKS_PER_ORGANIZATION} webhooks.")
    outbound.check_url(url, allow_private_addresses=allow_private_addresses)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(
        organization_id=organization.id, url=url, secret=secret, active=True, created_at=utcnow()
    )
    session.add(webhook)
    session.flush()
    audit.record(
        session,
        actor,
        "webhook.add",
        organization_id=organization.id,
        target=url,
        details={"webhook_id": webhook.id},
    )
    return NewWebhook(webhook=webhook, secret=secret)


def list_webhooks(session: Session, organization: Organization) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook).where(Webhook.organization_id == organization.id).order_by(Webhook.id)
        )
    )


def remove_webhook(
    session: Session, organization: Organization, webhook_id: int, *, actor: Actor
) -> None:
    """Delete a webhook of this organization (its undelivered calls go with it)."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or webhook.organization_id != organization.id:
        raise NotFound(f"No webhook {webhook_id} in organization {organization.slug!r}.")
    session.delete(webhook)
    session.flush()
    audit.record(
        session,
        actor,
        "webhook.remove",
        organization_id=organization.id,
        target=webhook.url,
        details={"webhook_id": webhook_id},
    )


def disable_webhook(session: Session, webhook_id: int, reason: str) -> None:
    """Stop calling a webhook that is gone, drop its pending calls, and tell the owners."""
    webhook = session.get(Webhook, webhook_id, with_for_update=True)
    if webhook is None or not webhook.active:
        return
    webhook.active = False
    webhook.disabled_at = utcnow()
    webhook.disabled_reason = reason
    session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.webhook_id == webhook_id,
            AlertDelivery.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.CANCELLED.value, last_error=reason)
    )
    session.flush()
    triggers.webhook_disabled(session, webhook, reason)


def webhook_dict(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "url": webhook.url,
        "active": webhook.active,
        "created_at": webhook.created_at.isoformat(),
        "disabled_at": webhook.disabled_at.isoformat() if webhook.disabled_at else None,
        "disabled_reason": webhook.disabled_reason,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def post(
    url: str,
    secret: str,
    alert_id: str,
    payload: dict[str, Any],
    *,
    timeout: int,
    allow_private_addresses: bool,
) -> int:
    """Send one signed call; returns the HTTP status. Network errors raise ``RequestException``;
    a URL that now names an internal address raises :class:`app.outbound.AddressNotAllowed`
    and nothing is sent.

    Redirects are not followed: a webhook that moved must be registered again.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    return outbound.post(
        url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "seatgate-alerts/1",
            ALERT_ID_HEADER: alert_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        },
        timeout=timeout,
        allow_private_addresses=allow_private_addresses,
    )
