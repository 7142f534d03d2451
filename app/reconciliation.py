"""Reconciliation: recount every organization from its ledger and tell operators about drift.

Drift (stored counters that disagree with the ledger events or the assignment rows, I4) is
something no owner can fix and no request reports, so it goes to the operators: always a log
line at ERROR (``"message": "ledger drift"``, for whatever watches the logs), and, when set,
an e-mail to ``[operators] email`` and a JSON POST to ``[operators] webhook_url`` (through
:mod:`app.outbound`, like every webhook: never to an internal address unless
``webhooks.allow_private_addresses``). A failing channel is logged and never hides the drift
from the other channels or from the exit status.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import outbound
from app.alerts import mail
from app.ledger import Recount, recount
from app.models import Organization
from app.settings import Settings

log = logging.getLogger("seatgate.reconciliation")


@dataclass(frozen=True)
class OrganizationCheck:
    slug: str
    recount: Recount

    def as_dict(self) -> dict[str, Any]:
        return {"organization": self.slug, **self.recount.as_dict()}


@dataclass(frozen=True)
class VerifyReport:
    checks: list[OrganizationCheck]

    @property
    def drifted(self) -> list[OrganizationCheck]:
        return [check for check in self.checks if not check.recount.consistent]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": len(self.checks),
            "consistent": not self.drifted,
            "drift": [check.as_dict() for check in self.drifted],
        }


def verify(session: Session, slug: str | None = None) -> VerifyReport:
    """Recount one organization (``slug``) or all of them, in slug order."""
    query = select(Organization.id, Organization.slug).order_by(Organization.slug)
    if slug is not None:
        query = query.where(Organization.slug == slug)
    rows = session.execute(query).all()
    return VerifyReport([OrganizationCheck(row.slug, recount(session, row.id)) for row in rows])


def alert_operators(settings: Settings, report: VerifyReport) -> list[str]:
    """Tell the operators about drift; returns the channels that accepted the alert."""
    if not report.drifted:
        return []
    body = report.as_dict()
    log.error("ledger drift", extra={"drift": body["drift"]})
    delivered = ["log"]
    if settings.operators.email:
        if not settings.smtp.url:
            log.error("ledger drift not mailed: no SMTP server is configured")
        else:
            try:
                mail.send(settings.smtp, _drift_mail(settings, report))
                delivered.append("email")
            except OSError as exc:  # SMTPException is an OSError
                log.error("ledger drift mail failed", extra={"error": str(exc)})
    if settings.operators.webhook_url:
        payload = {"type": "ledger_drift", "text": _summary(report), **body}
        try:
            status = outbound.post(
                settings.operators.webhook_url,
                body=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json", "User-Agent": "seatgate-alerts/1"},
                timeout=settings.alerts.webhook_timeout,
                allow_private_addresses=settings.webhooks.allow_private_addresses,
            )
            if 200 <= status < 300:
                delivered.append("webhook")
            else:
                log.error("ledger drift webhook failed", extra={"error": f"HTTP {status}"})
        except outbound.AddressNotAllowed:
            log.error("ledger drift webhook failed", extra={"error": outbound.REFUSED})
        except requests.RequestException as exc:
            log.error("ledger drift webhook failed", extra={"error": str(exc)})
    return delivered


def _summary(report: VerifyReport) -> str:
    slugs = ", ".join(check.slug for check in report.drifted)
    return f"seatgate ledger drift in {len(report.drifted)} organization(s): {slugs}"


def _drift_mail(settings: Settings, report: VerifyReport) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _summary(report)
    message["From"] = settings.smtp.from_address
    message["To"] = settings.operators.email
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<ledger-drift-{uuid.uuid4().hex}@seatgate>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "The stored seat counters disagree with the seat ledger (events and assignments).\n"
        "Investigate before anyone buys or is refused a seat on these numbers:\n\n"
        + json.dumps(report.as_dict()["drift"], indent=2)
        + f"\n\nBase URL: {settings.base_url}\n"
    )
    return message
