"""CLI for alerts and webhooks: ``seatgate alerts …`` and ``seatgate webhook …``.

Blueprints that carry only commands; the factory registers them, so the commands attach to
the ``seatgate`` CLI without ``app.cli`` importing this package.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click
from flask import Blueprint, current_app

from app import database_of, settings_of
from app.alerts import inbox
from app.alerts.delivery import Deliverer
from app.alerts.policy import policy_of, set_policy
from app.alerts.webhooks import add_webhook, list_webhooks, remove_webhook, webhook_dict
from app.cli import (
    WholeNumber,
    emit,
    operator,
    parse_instant,
    reports_domain_errors,
    unit_of_work,
)
from app.database_check import shown_url
from app.organizations import get_organization

alerts_commands = Blueprint("alerts_cli", __name__, cli_group="alerts")
alerts_commands.cli.help = "Owner alerts: deliver the outbox, list alerts, set thresholds."
webhook_commands = Blueprint("webhook_cli", __name__, cli_group="webhook")
webhook_commands.cli.help = "Signed webhooks that receive an organization's alerts."
log = logging.getLogger("seatgate.alerts")


@alerts_commands.cli.command("deliver")
@click.option("--once", is_flag=True, help="Run one pass and exit (for cron or tests)")
@click.option("--now", "now_text", help="Pretend it is this ISO instant (UTC); with --once")
def alerts_deliver(once: bool, now_text: str | None) -> None:
    """Send pending alerts by e-mail and webhook, retrying failures with backoff.

    Without --once, runs until SIGTERM or Ctrl-C, logs every pass with its counts (JSON on
    stderr) and prints the totals when it stops. Several deliverers may run at once.
    """
    settings = settings_of(current_app)
    deliverer = Deliverer(database_of(current_app), settings)
    if once:
        emit(deliverer.run_pass(now=parse_instant(now_text, "--now")).as_dict())
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info(
        "alert delivery started",
        extra={
            "poll_interval": settings.alerts.poll_interval,
            "email": deliverer.email_enabled,
            "database": shown_url(settings.database.url),
        },
    )
    totals = deliverer.run_forever(stop, log_idle_passes=True)
    log.info("alert delivery stopped", extra=totals.as_dict())
    emit(totals.as_dict())


@alerts_commands.cli.command("list")
@click.argument("slug")
@click.option("--limit", type=WholeNumber(1, inbox.MAX_LIMIT), default=inbox.DEFAULT_LIMIT)
@reports_domain_errors
def alerts_list(slug: str, limit: int) -> None:
    """An organization's recent alerts, newest first, with their delivery state."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        emit(inbox.recent_alerts(session, organization, settings_of(current_app).base_url, limit))


@alerts_commands.cli.command("policy")
@click.argument("slug")
@click.option("--percent", "percents", type=WholeNumber(), multiple=True, help="Repeat: 80, 90, …")
@click.option(
    "--seats-left", type=WholeNumber(), help="Also alert when this many seats or fewer are free"
)
@click.option("--no-seats-left", is_flag=True, help="Drop the seats-left threshold")
@click.option("--digest-minutes", type=WholeNumber(), help="Refusal digest window (minutes)")
@reports_domain_errors
def alerts_policy(
    slug: str,
    percents: tuple[int, ...],
    seats_left: int | None,
    no_seats_left: bool,
    digest_minutes: int | None,
) -> None:
    """Show the organization's alert thresholds, or change them with the options."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        current = policy_of(session, organization.id)
        if percents or seats_left is not None or no_seats_left or digest_minutes is not None:
            current = set_policy(
                session,
                organization.id,
                percents=percents or current.percents,
                seats_left=None
                if no_seats_left
                else (current.seats_left if seats_left is None else seats_left),
                digest_minutes=current.digest_minutes if digest_minutes is None else digest_minutes,
            )
        emit(current.as_dict())


@webhook_commands.cli.command("add")
@click.argument("slug")
@click.argument("url")
@reports_domain_errors
def webhook_add(slug: str, url: str) -> None:
    """Register a webhook; prints its signing secret, which is shown only this once.

    The URL's host must be, or resolve to, public internet addresses only (unless
    webhooks.allow_private_addresses is set, outside production).
    """
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        added = add_webhook(
            session,
            organization,
            url,
            actor=operator(),
            allow_private_addresses=settings_of(current_app).webhooks.allow_private_addresses,
        )
        emit({**webhook_dict(added.webhook), "secret": added.secret})


@webhook_commands.cli.command("list")
@click.argument("slug")
@reports_domain_errors
def webhook_list(slug: str) -> None:
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        emit([webhook_dict(hook) for hook in list_webhooks(session, organization)])


@webhook_commands.cli.command("remove")
@click.argument("slug")
@click.argument("webhook_id", type=WholeNumber())
@reports_domain_errors
def webhook_remove(slug: str, webhook_id: int) -> None:
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        remove_webhook(session, organization, webhook_id, actor=operator())
        emit({"removed": webhook_id})
