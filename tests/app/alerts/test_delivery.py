"""Delivery over a real SMTP server and a real webhook receiver on 127.0.0.1.

Never lost (retries, leases, SMTP outages), never duplicated in the normal case (one delivery
row per recipient, claims), and each message says what happened with the numbers and a link.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import threading

import pytest
from sqlalchemy import select

from app import billing
from app.alerts import triggers
from app.alerts.delivery import Deliverer, fan_out, retry_delay
from app.alerts.webhooks import add_webhook
from app.db import Database
from app.errors import NoFreeSeat
from app.models import AlertDelivery, Webhook, utcnow
from app.organizations import get_member, get_organization
from app.renewal import renew_due_contracts
from app.settings import SmtpSettings
from tests.app.alerts.helpers import OWNERS, PRIMARY, org_with_staff
from tests.app.alerts.peers import SmtpServer, WebhookReceiver
from tests.factories import OPERATOR, add_users, at, seat_members

NOW = at("2026-06-01")
SOON = NOW + dt.timedelta(minutes=1)


def seat(database: Database, count: int, prefix: str = "user") -> list[int]:
    members = add_users(database, "acme", [f"{prefix}{i}@acme.example.com" for i in range(count)])
    seat_members(database, members, when=NOW)
    return members


def hook(database: Database, receiver: WebhookReceiver) -> tuple[int, str]:
    with database.unit_of_work() as session:
        added = add_webhook(
            session,
            get_organization(session, "acme"),
            receiver.url(),
            actor=OPERATOR,
            allow_private_addresses=True,
        )
        return added.webhook.id, added.secret


def subjects(server: SmtpServer) -> list[str]:
    return [str(received.message["Subject"]) for received in server.received]


def text_of(message: object) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(body.get_content())


def test_each_owner_gets_the_alert_by_mail_with_numbers_and_link(
    database: Database, deliverer: Deliverer, smtp_server: SmtpServer
) -> None:
    org_with_staff(database)
    seat(database, 8)
    report = deliverer.run_pass(now=SOON)
    assert (report.fanned_out, report.sent, report.failed) == (1, 2, 0)
    assert {r for received in smtp_server.received for r in received.recipients} == OWNERS
    message = smtp_server.to(PRIMARY)[0]
    assert message["Subject"] == "[Acme] Seats running low: 80 % of seats in use"
    assert message["From"] == "seatgate <alerts@seatgate.test>"
    text = text_of(message)
    assert "8 of 10 seats are assigned" in text
    assert "Seats: 10 purchased, 8 assigned, 2 free." in text
    assert "Billing: http://127.0.0.1:8000/settings/billing" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert '<a href="http://127.0.0.1:8000/settings/billing">' in html
    ids = {str(received.message["Message-ID"]) for received in smtp_server.received}
    assert len(ids) == 2 and all(re.fullmatch(r"<[0-9a-f]{32}\.\d+@127\.0\.0\.1>", i) for i in ids)
    assert deliverer.run_pass(now=SOON + dt.timedelta(hours=1)).sent == 0  # sent once only
    assert len(smtp_server.received) == 2


def test_every_trigger_says_what_happened(
    database: Database, deliverer: Deliverer, smtp_server: SmtpServer
) -> None:
    org_with_staff(database, seats=4)
    seat(database, 4)  # 100 % at once: one "no free seat" alert
    with database.unit_of_work() as session:
        organization = get_organization(session, "acme")
        buyer = get_member(session, organization, PRIMARY)
        billing.purchase_seats(session, organization, 2, buyer=buyer, actor=OPERATOR, at=NOW)
    with database.unit_of_work() as session:
        renew_due_contracts(session, today=dt.date(2027, 1, 1), actor=OPERATOR)
    deliverer.run_pass()  # the renewal's alert is stamped with the real time
    texts = {str(m["Subject"]): text_of(m) for m in smtp_server.to(PRIMARY)}
    assert set(texts) == {
        "[Acme] No free seat left",
        "[Acme] 2 seats added, invoice ACME-00001 issued",
        "[Acme] Contract renewed with 4 seats",
    }
    assert (
        "All 4 seats are assigned. New users will be refused" in texts["[Acme] No free seat left"]
    )
    added = texts["[Acme] 2 seats added, invoice ACME-00001 issued"]
    assert "Invoice ACME-00001 for 420.00 USD was issued at once" in added
    assert "Seats: 6 purchased, 4 assigned, 2 free." in added
    renewed = texts["[Acme] Contract renewed with 4 seats"]
    assert "renewed for 2027-01-01 to 2028-01-01" in renewed
    assert "Seats: 4 purchased, 4 assigned, 0 free." in renewed


def test_contract_end_notice_is_written_and_sent_by_the_pass(
    database: Database, deliverer: Deliverer, smtp_server: SmtpServer
) -> None:
    org_with_staff(database, auto_renew=False)
    deliverer.run_pass(now=at("2026-12-25"))
    [message] = smtp_server.to(PRIMARY)
    assert message["Subject"] == "[Acme] Contract ends in 7 days (2027-01-01)"
    assert "does not renew automatically" in text_of(message)
    deliverer.run_pass(now=at("2026-12-26"))
    assert len(smtp_server.to(PRIMARY)) == 1


def test_a_burst_of_100_refusals_makes_one_message(
    database: Database,
    deliverer: Deliverer,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    org_with_staff(database, seats=1)
    seat(database, 1)
    hook(database, webhook_receiver)
    deliverer.run_pass(now=utcnow())  # the "no free seat" alert goes out first
    smtp_server.received.clear()
    webhook_receiver.calls.clear()
    refused = add_users(database, "acme", [f"late{i:03d}@acme.example.com" for i in range(100)])
    for member_id in refused:
        with pytest.raises(NoFreeSeat):
            seat_members(database, [member_id], when=NOW)
    assert deliverer.run_pass(now=utcnow()).sent == 0  # the window is still open
    report = deliverer.run_pass(now=utcnow() + dt.timedelta(minutes=16))
    assert report.sent == 3  # one message each: two owners and the webhook
    [message] = smtp_server.to(PRIMARY)
    assert message["Subject"] == "[Acme] Refused for lack of a seat: 100 people"
    text = text_of(message)
    assert (
        "100 requests were refused because no seat could be given (100 at the command line)" in text
    )
    assert "- late000@acme.example.com" in text and "- late099@acme.example.com" in text
    [call] = webhook_receiver.calls
    assert "100 people" in call.json["text"]


def test_smtp_down_alerts_wait_then_all_arrive_once(
    database: Database, deliverer: Deliverer, smtp_server: SmtpServer
) -> None:
    org_with_staff(database)
    seat(database, 10)  # 80 %, 90 %, 100 %: three alerts, six e-mails
    smtp_server.stop()
    report = deliverer.run_pass(now=SOON)
    assert (report.sent, report.failed) == (0, 6)
    assert "ConnectionRefusedError" in report.errors[0]
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=29)).failed == 0  # backing off
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=30)).failed == 6  # retried
    smtp_server.start()
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=89)).sent == 0  # 60 s backoff
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=90)).sent == 6
    assert deliverer.run_pass(now=SOON + dt.timedelta(hours=2)).sent == 0
    assert len(smtp_server.received) == 6
    assert len({str(r.message["Message-ID"]) for r in smtp_server.received}) == 6
    with database.unit_of_work(write=False) as session:
        attempts = set(session.scalars(select(AlertDelivery.attempts)))
    assert attempts == {3}


def test_without_smtp_settings_mail_waits_and_webhooks_still_go(
    database: Database, deliverer: Deliverer, webhook_receiver: WebhookReceiver
) -> None:
    org_with_staff(database)
    hook(database, webhook_receiver)
    seat(database, 8)
    unconfigured = Deliverer(
        deliverer.database, dataclasses.replace(deliverer.settings, smtp=SmtpSettings(url=""))
    )
    report = unconfigured.run_pass(now=SOON)
    assert (report.sent, report.email_waiting_for_smtp) == (1, 2)
    assert deliverer.run_pass(now=SOON).sent == 2  # once SMTP is configured, mail goes out


def test_a_delivery_claimed_by_a_worker_that_died_is_sent_after_its_lease(
    database: Database, deliverer: Deliverer, smtp_server: SmtpServer
) -> None:
    org_with_staff(database)
    seat(database, 8)
    with database.unit_of_work() as session:
        fan_out(session, now=SOON)
    with database.unit_of_work() as session:
        assert len(deliverer._claim(session, now=SOON)) == 2  # then the worker "crashes"
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=299)).sent == 0
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=300)).sent == 2
    assert len(smtp_server.received) == 2


def test_a_batch_that_outruns_its_lease_hands_the_rest_back_instead_of_sending_it_twice(
    database: Database,
    deliverer: Deliverer,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sends slow enough that the lease (300 s) could end during the next one (the SMTP
    timeout is 10 s): another worker may claim the rest of the batch by then, so the rest is
    released, due at once and its attempt uncounted, and sent by the next pass, once."""
    org_id = org_with_staff(database)
    with database.unit_of_work() as session:
        for _ in range(2):  # two alerts, two owners: four mails in one batch
            triggers.contract_renewed(session, org_id, dt.date(2027, 1, 1), dt.date(2028, 1, 1))
    start = utcnow() + dt.timedelta(minutes=1)
    # Each mail the server takes costs 150 s of the lease.
    clock = lambda: start + dt.timedelta(seconds=150 * len(smtp_server.received))  # noqa: E731
    monkeypatch.setattr("app.alerts.delivery.utcnow", clock)
    first = deliverer.run_pass()
    assert (first.sent, first.handed_back) == (2, 2)
    with database.unit_of_work(write=False) as session:
        pending = session.scalars(select(AlertDelivery).where(AlertDelivery.sent_at.is_(None)))
        assert [(d.attempts, d.next_attempt_at) for d in pending] == [(0, clock())] * 2
    second = deliverer.run_pass()
    assert (second.sent, second.handed_back) == (2, 0)
    ids = [str(r.message["Message-ID"]) for r in smtp_server.received]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_webhook_calls_are_signed_and_slack_compatible(
    database: Database, deliverer: Deliverer, webhook_receiver: WebhookReceiver
) -> None:
    org_with_staff(database)
    _webhook_id, secret = hook(database, webhook_receiver)
    seat(database, 8)
    deliverer.run_pass(now=SOON)
    [call] = webhook_receiver.calls
    timestamp = call.headers["X-Seatgate-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + call.body, hashlib.sha256)
    assert hmac.compare_digest(
        call.headers["X-Seatgate-Signature"], "sha256=" + expected.hexdigest()
    )
    forged = hmac.new(b"another secret", timestamp.encode() + b"." + call.body, hashlib.sha256)
    assert call.headers["X-Seatgate-Signature"] != "sha256=" + forged.hexdigest()
    assert call.headers["Content-Type"] == "application/json"
    body = call.json
    assert call.headers["X-Seatgate-Alert-Id"] == body["id"]
    assert body["type"] == "seats_low" and body["organization"] == "acme"
    assert body["text"].startswith("*[Acme] Seats running low: 80 % of seats in use*\n")
    assert body["billing_url"] == "http://127.0.0.1:8000/settings/billing"
    assert body["details"]["free"] == 2


def test_a_webhook_answering_500_is_retried_without_resending_mail(
    database: Database,
    deliverer: Deliverer,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    org_with_staff(database)
    hook(database, webhook_receiver)
    seat(database, 8)
    webhook_receiver.planned = [500, 503]
    assert deliverer.run_pass(now=SOON).failed == 1
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=30)).failed == 1
    assert deliverer.run_pass(now=SOON + dt.timedelta(seconds=90)).sent == 1
    first, second, third = webhook_receiver.calls
    assert first.json["id"] == second.json["id"] == third.json["id"]  # receivers can dedupe
    assert len(smtp_server.received) == 2  # the owners' e-mails went once, on the first pass


def test_a_webhook_answering_410_is_disabled_and_the_owners_are_told(
    database: Database,
    deliverer: Deliverer,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    org_with_staff(database)
    webhook_id, _secret = hook(database, webhook_receiver)
    seat(database, 8)
    webhook_receiver.planned = [410]
    report = deliverer.run_pass(now=SOON)
    assert report.webhooks_disabled == 1
    seat(database, 1, prefix="ninth")  # 90 %: a new alert, for the owners only
    deliverer.run_pass()  # the "webhook disabled" alert is stamped with the real time
    assert len(webhook_receiver.calls) == 1  # never called again
    with database.unit_of_work(write=False) as session:
        webhook = session.get(Webhook, webhook_id)
        assert webhook is not None and not webhook.active
        assert webhook.disabled_reason == "HTTP 410 Gone"
    told = [m for m in smtp_server.to(PRIMARY) if "webhook disabled" in str(m["Subject"])]
    [message] = told
    assert webhook_receiver.url() in text_of(message)


def test_two_deliverers_at_once_send_each_alert_once(
    database: Database, deliverer: Deliverer, smtp_server: SmtpServer
) -> None:
    org_id = org_with_staff(database)
    with database.unit_of_work() as session:
        for _ in range(15):
            triggers.contract_renewed(session, org_id, dt.date(2027, 1, 1), dt.date(2028, 1, 1))
    small_batches = dataclasses.replace(
        deliverer.settings,
        alerts=dataclasses.replace(deliverer.settings.alerts, batch_size=3),
    )
    workers = [Deliverer(database, small_batches), Deliverer(database, small_batches)]
    start = threading.Barrier(2)
    reports = []
    later = utcnow() + dt.timedelta(minutes=1)

    def work(worker: Deliverer) -> None:
        start.wait()
        reports.append(worker.run_pass(now=later))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(report.sent for report in reports) == 30
    ids = [str(r.message["Message-ID"]) for r in smtp_server.received]
    assert len(ids) == 30 and len(set(ids)) == 30


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_is_used_when_the_url_has_credentials(
    database: Database, deliverer: Deliverer
) -> None:
    server = SmtpServer(credentials=("alerts", "s3cret"))  # refuses mail before AUTH
    server.start()
    try:
        org_with_staff(database)
        seat(database, 8)
        with_login = dataclasses.replace(
            deliverer.settings, smtp=SmtpSettings(url=server.url, from_address="a@b.test")
        )
        assert Deliverer(database, with_login).run_pass(now=SOON).sent == 2
        assert len(server.received) == 2
    finally:
        server.stop()


def test_retry_delay_doubles_up_to_the_cap() -> None:
    delays = [
        retry_delay(n, base_seconds=30, max_seconds=3600).total_seconds() for n in range(1, 10)
    ]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
