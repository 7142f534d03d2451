"""Delivering the alert outbox: fan out, claim, send, retry — at least once, never lost.

One pass:

1. writes the contract-end notices that fell due (30, 7, 1 days before a non-renewing end),
   and queues the owners' e-mail sign-in links asked for since the last pass
   (:mod:`app.sign_in_links`: each goes to its owner alone, never fanned out);
2. fans out every due alert (a refusal digest once its window closed, any other alert at
   once) into one delivery row per owner e-mail and per active webhook, so a failing channel
   never makes another one send twice;
3. claims due deliveries in small batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
   write lock on SQLite), moving each one's next attempt a lease ahead, and commits; sends
   them outside any transaction; then records each outcome: sent, retried later with
   exponential backoff, or the webhook disabled: one that answered 410 Gone, or whose URL
   now names an internal address (refused by :mod:`app.outbound` before anything is sent;
   recorded as ``refused: address not allowed``, which says nothing of what answers there).

Several workers can run at once: a claimed delivery is invisible to the others until its
lease ends. A worker that dies after claiming leaves the lease to expire and the delivery is
sent again; receivers drop such duplicates by the stable message id (``Message-ID`` for mail,
the ``id`` field and ``X-Seatgate-Alert-Id`` header for webhooks).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import outbound, sign_in_links
from app.alerts import mail, triggers, webhooks
from app.alerts.messages import RenderedAlert, render, render_sign_in_link
from app.db import Database
from app.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    AlertStatus,
    DeliveryChannel,
    DeliveryStatus,
    Member,
    Organization,
    Role,
    Webhook,
    utcnow,
)
from app.settings import Settings

log = logging.getLogger("seatgate.alerts")

FAN_OUT_BATCH = 100
OWNER_ROLES = (Role.OWNER.value, Role.PRIMARY_OWNER.value)
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True)
class ClaimedDelivery:
    """What one send needs, read while claiming so sending touches no database."""

    delivery_id: int
    channel: DeliveryChannel
    recipient: str
    webhook_secret: str | None
    alert_public_id: str
    message_id: str
    rendered: RenderedAlert
    payload: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    error: str | None = None
    disables_webhook: bool = False  # 410 Gone, or an address seatgate must not call


@dataclass
class PassReport:
    notices: int = 0
    sign_in_links: int = 0
    fanned_out: int = 0
    sent: int = 0
    failed: int = 0
    webhooks_disabled: int = 0
    handed_back: int = 0  # claimed, then left unsent: the lease could not outlast the send
    email_waiting_for_smtp: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def did_something(self) -> bool:
        return any(
            (self.notices, self.fanned_out, self.sent, self.failed, self.handed_back, self.errors)
        )


@dataclass
class DeliveryTotals:
    """What a run of passes did, counted over all of them."""

    passes: int = 0
    failed_passes: int = 0  # passes an unexpected error (a database outage) cut short
    notices: int = 0
    fanned_out: int = 0
    sent: int = 0
    failed: int = 0
    webhooks_disabled: int = 0
    handed_back: int = 0

    def add(self, report: PassReport) -> None:
        self.passes += 1
        for name in (
            "notices",
            "fanned_out",
            "sent",
            "failed",
            "webhooks_disabled",
            "handed_back",
        ):
            setattr(self, name, getattr(self, name) + getattr(report, name))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def retry_delay(attempts: int, *, base_seconds: int, max_seconds: int) -> dt.timedelta:
    """Exponential backoff: base, twice that, four times … up to ``max_seconds``; no give-up."""
    exponent = min(max(attempts - 1, 0), 32)
    return dt.timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


class Deliverer:
    """Runs delivery passes against one database with one configuration."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._host = urlsplit(settings.base_url).hostname or "seatgate"

    @property
    def email_enabled(self) -> bool:
        return bool(self.settings.smtp.url)

    def run_pass(self, now: dt.datetime | None = None) -> PassReport:
        """Deliver everything due; ``now`` pins the clock (tests), else the real time is used."""
        clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else utcnow
        report = PassReport()
        with self.database.unit_of_work() as session:
            report.notices = len(triggers.contract_end_notices(session, today=clock().date()))
            report.notices += len(triggers.certificate_notices(session, today=clock().date()))
        with self.database.unit_of_work() as session:
            report.sign_in_links = sign_in_links.dispatch_requests(session, now=clock())
        while True:
            with self.database.unit_of_work() as session:
                fanned = fan_out(session, now=clock())
            report.fanned_out += fanned
            if fanned < FAN_OUT_BATCH:
                break
        lease = dt.timedelta(seconds=self.settings.alerts.lease_seconds)
        while True:
            claimed_at = clock()
            with self.database.unit_of_work() as session:
                batch = self._claim(session, now=claimed_at)
            if not batch:
                break
            for index, item in enumerate(batch):
                # A send that answers in time takes at most its timeout (smtplib and requests
                # apply it to each network wait); once the lease could end during it,
                # another worker may claim what is left of the batch, and sending it here too
                # would deliver it twice. What is left goes back, due at once, and the pass
                # ends (the next pass claims it again with a lease of its own).
                if clock() + self._longest_send(item) >= claimed_at + lease:
                    with self.database.unit_of_work() as session:
                        report.handed_back += self._hand_back(
                            session, batch[index:], leased_until=claimed_at + lease, now=clock()
                        )
                    return self._finish(report)
                # Recorded one by one, right after each send: a worker killed mid-batch then
                # resends at most the one message it was handing over, not the whole batch.
                outcome = self._send(item)
                with self.database.unit_of_work() as session:
                    self._record(session, [outcome], now=clock(), report=report)
        return self._finish(report)

    def _finish(self, report: PassReport) -> PassReport:
        if not self.email_enabled:
            with self.database.unit_of_work(write=False) as session:
                report.email_waiting_for_smtp = _count_waiting_email(session)
        return report

    def _longest_send(self, item: ClaimedDelivery) -> dt.timedelta:
        """How long sending ``item`` may take before its timeout gives up."""
        if item.channel is DeliveryChannel.EMAIL:
            return dt.timedelta(seconds=self.settings.smtp.timeout)
        return dt.timedelta(seconds=self.settings.alerts.webhook_timeout)

    @staticmethod
    def _hand_back(
        session: Session,
        unsent: list[ClaimedDelivery],
        *,
        leased_until: dt.datetime,
        now: dt.datetime,
    ) -> int:
        """Release claimed deliveries that were not sent: due now, their attempt uncounted.
        One whose lease ended and that another worker claimed since is left to that worker."""
        handed_back = 0
        for item in unsent:
            delivery = session.get(AlertDelivery, item.delivery_id, with_for_update=True)
            if (
                delivery is None
                or delivery.status != DeliveryStatus.PENDING.value
                or delivery.next_attempt_at != leased_until
            ):
                continue
            delivery.attempts -= 1
            delivery.next_attempt_at = now
            handed_back += 1
        session.flush()
        return handed_back

    def run_forever(
        self, stop: threading.Event, *, log_idle_passes: bool = False
    ) -> DeliveryTotals:
        """Pass after pass until ``stop`` is set; an unexpected error never ends the loop.

        Each pass that did something is logged with its counts; ``log_idle_passes`` logs the
        others too, for a process that does nothing else (``seatgate alerts deliver``), whose
        log is then the operator's sign that it is alive and how much waits.
        """
        totals = DeliveryTotals()
        while not stop.is_set():
            try:
                started = time.monotonic()
                report = self.run_pass()
                totals.add(report)
                if log_idle_passes or report.did_something:
                    log.info(
                        "alert delivery pass",
                        extra={
                            **report.as_dict(),
                            "seconds": round(time.monotonic() - started, 3),
                        },
                    )
            except Exception:
                totals.passes += 1
                totals.failed_passes += 1
                log.exception("alert delivery pass failed")
            stop.wait(self.settings.alerts.poll_interval)
        return totals

    def _claim(self, session: Session, *, now: dt.datetime) -> list[ClaimedDelivery]:
        query = (
            select(AlertDelivery, Alert, Organization, Webhook)
            .join(Alert, Alert.id == AlertDelivery.alert_id)
            .join(Organization, Organization.id == Alert.organization_id)
            .outerjoin(Webhook, Webhook.id == AlertDelivery.webhook_id)
            .where(
                AlertDelivery.status == DeliveryStatus.PENDING.value,
                AlertDelivery.next_attempt_at <= now,
            )
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(self.settings.alerts.batch_size)
            .with_for_update(skip_locked=True, of=AlertDelivery)
        )
        if not self.email_enabled:
            query = query.where(AlertDelivery.channel != DeliveryChannel.EMAIL.value)
        lease = dt.timedelta(seconds=self.settings.alerts.lease_seconds)
        claimed = []
        for delivery, alert, organization, webhook in session.execute(query).all():
            if alert.kind == AlertKind.SIGN_IN_LINK.value:
                rendered = self._sign_in_link(session, alert, organization, now=now)
                if rendered is None:  # used or expired before it could be sent
                    delivery.status = DeliveryStatus.CANCELLED.value
                    continue
            else:
                rendered = render(alert, organization.name, self.settings.base_url)
            delivery.attempts += 1
            delivery.next_attempt_at = now + lease
            claimed.append(
                ClaimedDelivery(
                    delivery_id=delivery.id,
                    channel=DeliveryChannel(delivery.channel),
                    recipient=delivery.recipient,
                    webhook_secret=webhook.secret if webhook is not None else None,
                    alert_public_id=alert.public_id,
                    message_id=f"<{alert.public_id}.{delivery.id}@{self._host}>",
                    rendered=rendered,
                    payload=_webhook_payload(alert, organization, rendered),
                )
            )
        session.flush()
        return claimed

    def _sign_in_link(
        self, session: Session, alert: Alert, organization: Organization, *, now: dt.datetime
    ) -> RenderedAlert | None:
        """The sign-in e-mail with a token made now (only its hash is stored), or ``None``."""
        token = sign_in_links.fresh_token(session, int(alert.details["link_id"]), now=now)
        if token is None:
            return None
        return render_sign_in_link(
            organization.name,
            f"{self.settings.base_url.rstrip('/')}/signin/link/{token}",
            lifetime_minutes=int(sign_in_links.LIFETIME.total_seconds() // 60),
        )

    def _send(self, item: ClaimedDelivery) -> Outcome:
        try:
            if item.channel is DeliveryChannel.EMAIL:
                message = mail.build_message(
                    item.rendered,
                    sender=self.settings.smtp.from_address,
                    recipient=item.recipient,
                    message_id=item.message_id,
                )
                mail.send(self.settings.smtp, message)
                return Outcome(item.delivery_id)
            status = webhooks.post(
                item.recipient,
                item.webhook_secret or "",
                item.alert_public_id,
                item.payload,
                timeout=self.settings.alerts.webhook_timeout,
                allow_private_addresses=self.settings.webhooks.allow_private_addresses,
            )
        except outbound.AddressNotAllowed:
            return Outcome(item.delivery_id, error=outbound.REFUSED, disables_webhook=True)
        except (OSError, smtplib.SMTPException, requests.RequestException) as exc:
            return Outcome(item.delivery_id, error=f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return Outcome(item.delivery_id)
        if status == 410:
            return Outcome(item.delivery_id, error="HTTP 410 Gone", disables_webhook=True)
        return Outcome(item.delivery_id, error=f"HTTP {status}")

    def _record(
        self, session: Session, outcomes: list[Outcome], *, now: dt.datetime, report: PassReport
    ) -> None:
        alerts = self.settings.alerts
        for outcome in outcomes:
            delivery = session.get(AlertDelivery, outcome.delivery_id, with_for_update=True)
            if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
                continue  # its webhook was removed or disabled meanwhile
            if outcome.error is None:
                delivery.status = DeliveryStatus.SENT.value
                delivery.sent_at = now
                delivery.last_error = None
                report.sent += 1
                continue
            delivery.last_error = outcome.error[:MAX_ERROR_LENGTH]
            report.errors.append(f"delivery {delivery.id} to {delivery.recipient}: {outcome.error}")
            log.warning(
                "alert delivery failed",
                extra={"delivery_id": delivery.id, "attempts": delivery.attempts},
            )
            if outcome.disables_webhook and delivery.webhook_id is not None:
                delivery.status = DeliveryStatus.CANCELLED.value
                webhooks.disable_webhook(session, delivery.webhook_id, outcome.error)
                report.webhooks_disabled += 1
                continue
            delivery.next_attempt_at = now + retry_delay(
                delivery.attempts,
                base_seconds=alerts.retry_base_seconds,
                max_seconds=alerts.retry_max_seconds,
            )
            report.failed += 1
        session.flush()


def fan_out(session: Session, *, now: dt.datetime) -> int:
    """Turn due alerts into delivery rows for the current owners and active webhooks."""
    due = session.scalars(
        select(Alert)
        .where(
            Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.COLLECTING.value]),
            Alert.deliverable_at <= now,
        )
        .order_by(Alert.id)
        .limit(FAN_OUT_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for alert in due:
        owners = session.scalars(
            select(Member.email)
            .where(
                Member.organization_id == alert.organization_id,
                Member.active.is_(True),
                Member.role.in_(OWNER_ROLES),
            )
            .order_by(Member.id)
        ).all()
        for address in owners:
            session.add(_delivery(alert, DeliveryChannel.EMAIL, address, None, now))
        hooks = session.scalars(
            select(Webhook)
            .where(Webhook.organization_id == alert.organization_id, Webhook.active.is_(True))
            .order_by(Webhook.id)
        ).all()
        for hook in hooks:
            session.add(_delivery(alert, DeliveryChannel.WEBHOOK, hook.url, hook.id, now))
        alert.status = AlertStatus.DISPATCHED.value
        alert.dispatched_at = now
    session.flush()
    return len(due)


class BackgroundDelivery:
    """Delivery in a daemon thread of this process (``seatgate serve`` workers)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=Deliverer(database, settings).run_forever,
            args=(self._stop,),
            name="seatgate-alert-delivery",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Ask the loop to end after its current pass, and wait for it."""
        self._stop.set()
        self._thread.join(timeout)


def _delivery(
    alert: Alert,
    channel: DeliveryChannel,
    recipient: str,
    webhook_id: int | None,
    now: dt.datetime,
) -> AlertDelivery:
    return AlertDelivery(
        alert_id=alert.id,
        channel=channel.value,
        recipient=recipient,
        webhook_id=webhook_id,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def _webhook_payload(
    alert: Alert, organization: Organization, rendered: RenderedAlert
) -> dict[str, Any]:
    return {
        "id": alert.public_id,
        "type": alert.kind,
        "organization": organization.slug,
        "created_at": alert.created_at.isoformat(),
        "title": rendered.subject,
        "text": rendered.slack_text,
        "billing_url": rendered.billing_url,
        "details": alert.details,
    }


def _count_waiting_email(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(AlertDelivery)
            .where(
                AlertDelivery.status == DeliveryStatus.PENDING.value,
                AlertDelivery.channel == DeliveryChannel.EMAIL.value,
            )
        )
        or 0
    )
