"""The ``seatgate`` command line, built on Flask's CLI.

Data goes to stdout as JSON; errors go to stderr as one line, with a non-zero exit status
(1 for a refused or invalid operation, 2 for bad usage or configuration). Every command that
changes data runs in one unit of work and goes through the same domain functions as HTTP.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import getpass
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import billing, create_app, database_of, reconciliation, scim_tokens, settings_of
from app.database_check import DatabaseNotReady, check_database, shown_url
from app.departures import remove_member
from app.dev_sign_in import create_link
from app.errors import NotFound, SeatgateError, SeatRefused
from app.ledger import Actor, claim_seat, recount, release_seat, seat_usage
from app.migrations_runner import upgrade_database
from app.models import IdentityProvider, Member, Organization, PlanType, Role, Source
from app.money import format_minor, normalize_currency, parse_price
from app.organizations import (
    NewOrganization,
    OrganizationChange,
    add_member,
    create_organization,
    get_member,
    get_organization,
    list_members,
    list_organizations,
    primary_owner,
    transfer_primary_owner,
    update_organization,
)
from app.renewal import renew_due_contracts
from app.settings import SettingsError, load_settings
from app.whole_numbers import INTEGER_MAX, InvalidNumber, whole_number

P = ParamSpec("P")
R = TypeVar("R")


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def reports_domain_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn expected domain failures into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SeatgateError as error:
            fail(error.message)

    return wrapper


def operator() -> Actor:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return Actor(label=f"operator:{user}", source=Source.CLI, request_id=uuid.uuid4().hex)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    with database_of(current_app).unit_of_work() as session:
        yield session


class WholeNumber(click.ParamType[int]):
    """A whole number option or argument, read as forms and APIs read one
    (:func:`app.whole_numbers.whole_number`): ASCII digits within ``low..high`` (by default
    an INTEGER column's range), else a usage error (exit status 2) before anything runs."""

    name = "integer"

    def __init__(self, low: int = 0, high: int = INTEGER_MAX) -> None:
        self.low = low
        self.high = high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return whole_number(value, "value", low=self.low, high=self.high)
        except InvalidNumber as error:
            self.fail(f"must be {error.requirement}.", param, ctx)


def parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date; use YYYY-MM-DD.", 2)


def parse_instant(value: str | None, option: str) -> dt.datetime | None:
    """An ISO date or date-time; naive values are UTC."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date or date-time; use ISO 8601.", 2)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def member_dict(member: Member) -> dict[str, Any]:
    return {
        "email": member.email,
        "role": member.role,
        "active": member.active,
        "seat": member.seat is not None,
        "external_id": member.external_id,
        "display_name": member.display_name,
    }


def refusal_dict(refusal: SeatRefused) -> dict[str, Any]:
    return {"purchased": refusal.purchased, "assigned": refusal.assigned}


def _create_app_for_cli() -> Any:
    return create_app()


# Commands that run on a database without this release's schema (they make it).
SCHEMA_NOT_NEEDED: set[click.Command] = set()
_CHECKS_SCHEMA: set[click.Command] = set()


class SeatgateGroup(FlaskGroup):
    """Flask's command group, showing seatgate's commands only, where every command first
    checks the database: one that is down, missing or not at this release's migration is one
    line on stderr and exit status 2, before the command does anything.

    Why every command: one that ran on an older schema could work in part, or write without
    a constraint or trigger a newer migration added. ``--help`` never touches the database.
    Flask's ``run``, ``shell`` and ``routes`` are left out; its ``--app``, ``--env-file`` and
    ``--debug`` options still work but are hidden from ``--help``.
    """

    def __init__(self, **extra: Any) -> None:
        super().__init__(add_default_commands=False, **extra)
        self.params = [_hidden(param) for param in self.params]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _check_database_first(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatabaseNotReady as error:
            fail(str(error), 2)
        except DBAPIError:
            # The command failed on the database: say why in one line if the database is not
            # ready; an error on a ready database is a bug, and keeps its traceback.
            settings = settings_of(ctx.ensure_object(ScriptInfo).load_app())
            try:
                check_database(settings.database)
            except DatabaseNotReady as error:
                fail(str(error), 2)
            raise


def _check_database_first(command: click.Command) -> None:
    """Make ``command`` (every command of a group) check the database before it runs."""
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            _check_database_first(subcommand)
        return
    callback = command.callback
    if callback is None or command in SCHEMA_NOT_NEEDED or command in _CHECKS_SCHEMA:
        return

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        flask_app = click.get_current_context().ensure_object(ScriptInfo).load_app()
        check_database(settings_of(flask_app).database)
        return callback(*args, **kwargs)

    command.callback = checked
    _CHECKS_SCHEMA.add(command)


def _hidden(param: click.Parameter) -> click.Parameter:
    if isinstance(param, click.Option) and param.name in {"app", "env_file", "debug"}:
        param = copy.copy(param)  # Flask's option objects are shared module-wide
        param.hidden = True
    return param


@click.group(cls=SeatgateGroup, create_app=_create_app_for_cli, add_version_option=False)
def cli() -> None:
    """seatgate: seat-aware SCIM provisioning and SAML SSO gateway."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = settings_of(current_app)
    revision = upgrade_database(settings.database.url)
    emit({"database": shown_url(settings.database.url), "revision": revision})


SCHEMA_NOT_NEEDED.add(db_upgrade)


@cli.group()
def org() -> None:
    """Organizations."""


@org.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--seats", type=WholeNumber(), required=True)
@click.option("--seat-price", required=True, help="Per seat per month, e.g. 30.00")
@click.option("--currency", default="USD", show_default=True)
@click.option("--term-start", required=True, help="YYYY-MM-DD")
@click.option("--auto-renew/--no-auto-renew", default=True, show_default=True)
@click.option("--primary-owner", required=True, help="E-mail of the Primary Owner")
@click.option(
    "--plan",
    type=click.Choice([p.value for p in PlanType]),
    default=PlanType.ANNUAL_INVOICED.value,
    show_default=True,
)
@reports_domain_errors
def org_create(
    slug: str,
    name: str,
    seats: int,
    seat_price: str,
    currency: str,
    term_start: str,
    auto_renew: bool,
    primary_owner: str,
    plan: str,
) -> None:
    """Open an organization with its contract, seat pool and Primary Owner."""
    code = normalize_currency(currency)
    new = NewOrganization(
        slug=slug,
        name=name,
        seats=seats,
        seat_price_minor=parse_price(seat_price, code),
        currency=code,
        term_start=parse_date(term_start, "--term-start"),
        auto_renew=auto_renew,
        primary_owner_email=primary_owner,
        plan_type=PlanType(plan),
    )
    with unit_of_work() as session:
        organization = create_organization(session, new, actor=operator())
        emit(
            {
                "slug": organization.slug,
                "name": organization.name,
                **_usage(session, organization.id),
            }
        )


@org.command("list")
def org_list() -> None:
    """Every organization, with its seats and the end of its term."""
    with database_of(current_app).unit_of_work(write=False) as session:
        emit(
            [
                {
                    "slug": summary.slug,
                    "name": summary.name,
                    "purchased": summary.purchased,
                    "assigned": summary.assigned,
                    "free": summary.purchased - summary.assigned,
                    "term_end": summary.term_end.isoformat(),
                    "auto_renew": summary.auto_renew,
                }
                for summary in list_organizations(session)
            ]
        )


@org.command("show")
@click.argument("slug")
@reports_domain_errors
def org_show(slug: str) -> None:
    """An organization: its contract, seats, locale, billing details and Primary Owner."""
    with database_of(current_app).unit_of_work(write=False) as session:
        emit(_organization_dict(session, get_organization(session, slug)))


@org.command("update")
@click.argument("slug")
@click.option("--name", help="The organization's name")
@click.option("--auto-renew/--no-auto-renew", default=None, help="Renew at the end of the term")
@click.option("--locale", help="Language of its pages and messages: en, es, …")
@click.option("--legal-name", help="Billing: the legal name invoices are addressed to")
@click.option("--address", help="Billing: postal address (may span lines)")
@click.option("--tax-id", help="Billing: tax identifier (VAT number, EIN, …)")
@click.option(
    "--next-term-price",
    help="Per seat per month from the next renewal on, e.g. 32.50; the current term keeps its",
)
@reports_domain_errors
def org_update(
    slug: str,
    name: str | None,
    auto_renew: bool | None,
    locale: str | None,
    legal_name: str | None,
    address: str | None,
    tax_id: str | None,
    next_term_price: str | None,
) -> None:
    """Change SLUG's name, renewal, locale, billing details or next term's seat price.

    Only the options given change; an empty value ("") clears a billing detail or the next
    term's price.
    """
    change = OrganizationChange(
        name=name,
        auto_renew=auto_renew,
        locale=locale,
        billing_legal_name=legal_name,
        billing_address=address,
        billing_tax_id=tax_id,
        next_term_price=next_term_price,
    )
    with unit_of_work() as session:
        organization = update_organization(
            session, get_organization(session, slug), change, actor=operator()
        )
        emit(_organization_dict(session, organization))


def _organization_dict(session: Session, organization: Organization) -> dict[str, Any]:
    contract = organization.contract
    currency = contract.currency
    next_price = contract.next_term_price_minor
    next_seat_price = None if next_price is None else format_minor(next_price, currency)
    owner = primary_owner(session, organization)
    return {
        "slug": organization.slug,
        "name": organization.name,
        "locale": organization.locale,
        "created_at": organization.created_at.isoformat(),
        "primary_owner": owner.email if owner is not None else None,
        "contract": {
            "plan": contract.plan_type,
            "term_start": contract.term_start.isoformat(),
            "term_end": contract.term_end.isoformat(),
            "currency": currency,
            "seat_price": format_minor(contract.seat_price_minor, currency),
            "next_term_seat_price": next_seat_price,
            "auto_renew": contract.auto_renew,
        },
        "seats": _usage(session, organization.id),
        "billing": {
            "legal_name": organization.billing_legal_name,
            "address": organization.billing_address,
            "tax_id": organization.billing_tax_id,
        },
    }


@cli.group()
def member() -> None:
    """Members of an organization."""


@member.command("add")
@click.argument("slug")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "admin", "user"]), default="user")
@click.option("--display-name")
@reports_domain_errors
def member_add(slug: str, email: str, role: str, display_name: str | None) -> None:
    """Add an active member (without a seat until one is claimed)."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        added = add_member(
            session, organization, email, Role(role), actor=operator(), display_name=display_name
        )
        emit(member_dict(added))


@member.command("transfer-primary")
@click.argument("slug")
@click.argument("email")
@reports_domain_errors
def member_transfer_primary(slug: str, email: str) -> None:
    """Make EMAIL the Primary Owner (the one who buys seats); the previous one becomes an Owner."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        successor, previous = transfer_primary_owner(session, organization, email, actor=operator())
        emit({"primary_owner": member_dict(successor), "previous": member_dict(previous)})


@member.command("remove")
@click.argument("slug")
@click.argument("email")
@reports_domain_errors
def member_remove(slug: str, email: str) -> None:
    """Remove a member: the seat goes back to the pool, the history stays.

    The member is deactivated, not deleted (the ledger and invoices name it). One the
    identity provider provisioned leaves the directory as a SCIM DELETE would take it out;
    unassign it in the identity provider too, or its next update brings it back.
    """
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        removed = remove_member(session, organization, email, actor=operator())
        emit({**member_dict(removed), **_usage(session, organization.id)})


@member.command("list")
@click.argument("slug")
@reports_domain_errors
def member_list(slug: str) -> None:
    """Every member, active or not, with role and seat."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        emit([member_dict(m) for m in list_members(session, organization)])


@cli.group()
def seats() -> None:
    """Seats: show, quote, add (purchase), claim, release, recount."""


@seats.command("show")
@click.argument("slug")
@reports_domain_errors
def seats_show(slug: str) -> None:
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        emit(_usage(session, organization.id))


@seats.command("quote")
@click.argument("slug")
@click.argument("quantity", type=WholeNumber())
@click.option("--at", "at_text", help="Price as of this ISO date or date-time (UTC)")
@reports_domain_errors
def seats_quote(slug: str, quantity: int, at_text: str | None) -> None:
    """What adding QUANTITY seats would cost, prorated to the end of the term. Buys nothing."""
    at = parse_instant(at_text, "--at")
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        quote = billing.quote_purchase(session, organization, quantity, at=at, actor=operator())
        emit(quote.as_dict())


@seats.command("add")
@click.argument("slug")
@click.argument("quantity", type=WholeNumber())
@click.option("--by", "buyer_email", required=True, help="E-mail of the Primary Owner buying")
@click.option("--idempotency-key", help="Repeat with the same key to never bill twice")
@click.option("--at", "at_text", help="Purchase instant (ISO date or date-time, UTC)")
@reports_domain_errors
def seats_add(
    slug: str, quantity: int, buyer_email: str, idempotency_key: str | None, at_text: str | None
) -> None:
    """Buy QUANTITY more seats and print the invoice issued at once."""
    at = parse_instant(at_text, "--at")
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        buyer = get_member(session, organization, buyer_email)
        purchase = billing.purchase_seats(
            session,
            organization,
            quantity,
            buyer=buyer,
            actor=Actor(label=buyer.email, source=Source.CLI, request_id=uuid.uuid4().hex),
            idempotency_key=idempotency_key,
            at=at,
        )
        emit({**billing.invoice_as_dict(purchase.invoice), "replayed": purchase.replayed})


@seats.command("claim")
@click.argument("slug")
@click.argument("email")
def seats_claim(slug: str, email: str) -> None:
    """Give a member a seat through the ledger (operator tool)."""
    try:
        with unit_of_work() as session:
            organization = get_organization(session, slug)
            held = claim_seat(
                session, get_member(session, organization, email), actor=operator(), reason="cli"
            )
            emit({"email": email, "seat": True, "assigned_at": held.assigned_at.isoformat()})
    except SeatRefused as refusal:
        click.echo(json.dumps(refusal_dict(refusal)), err=True)
        fail(refusal.message)
    except SeatgateError as error:
        fail(error.message)


@seats.command("release")
@click.argument("slug")
@click.argument("email")
@reports_domain_errors
def seats_release(slug: str, email: str) -> None:
    """Free a member's seat for someone else (operator tool)."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        held = release_seat(
            session, get_member(session, organization, email), actor=operator(), reason="cli"
        )
        emit({"email": email, "released": held, **_usage(session, organization.id)})


@seats.command("recount")
@click.argument("slug")
@reports_domain_errors
def seats_recount(slug: str) -> None:
    """Rebuild the counts from the ledger; exit 1 if they drifted from the stored ones."""
    with database_of(current_app).unit_of_work(write=False) as session:
        result = recount(session, get_organization(session, slug).id)
    emit(result.as_dict())
    if not result.consistent:
        sys.exit(1)


@cli.group()
def ledger() -> None:
    """The seat ledger: verify the stored counters against it."""


@ledger.command("verify")
@click.argument("slug", required=False)
@click.option(
    "--alert/--no-alert",
    default=True,
    show_default=True,
    help="Tell the operators about drift (ERROR log, [operators] e-mail and webhook)",
)
@reports_domain_errors
def ledger_verify(slug: str | None, alert: bool) -> None:
    """Recount every organization (or SLUG) from its ledger; exit 1 on any drift.

    Run it periodically (cron, a systemd timer): with drift it alerts the operators.
    """
    with database_of(current_app).unit_of_work(write=False) as session:
        if slug is not None:
            get_organization(session, slug)  # an unknown slug is an error, not "no drift"
        report = reconciliation.verify(session, slug)
    result = report.as_dict()
    if alert:
        result["alerted"] = reconciliation.alert_operators(settings_of(current_app), report)
    emit(result)
    if report.drifted:
        sys.exit(1)


@cli.command("renew")
@click.option("--today", "today_text", help="Renew as of this date (default: today, UTC)")
@reports_domain_errors
def renew(today_text: str | None) -> None:
    """Renew every auto-renewing contract whose term has ended, with the seats in use.

    Run it daily (cron, a systemd timer). A contract that does not auto-renew is reported as
    lapsed.
    """
    today = parse_date(today_text, "--today") if today_text else dt.datetime.now(dt.UTC).date()
    with unit_of_work() as session:
        emit(renew_due_contracts(session, today=today, actor=operator()))


@cli.command("serve")
@click.option("--host", help="Bind address (default: the server.host setting)")
@click.option("--port", type=WholeNumber(1, 65535), help="Port (default: the server.port setting)")
@click.option(
    "--workers", type=WholeNumber(1, 1024), help="gunicorn workers (default: server.workers)"
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the application under gunicorn (logs: JSON lines on stderr)."""
    settings = settings_of(current_app)
    server = settings.server
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:app.serving",  # JSON logs, metrics summed over workers
        "--bind",
        f"{host or server.host}:{port or server.port}",
        "--workers",
        str(workers or server.workers),
        "--log-level",
        settings.log_level.lower(),
        "--no-control-socket",  # several instances on one host must not fight over one socket
        "app.wsgi:application",
    ]
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn


DEMO_SLUG = "demo"
DEMO_OWNER = "owner@demo.example.com"


DEMO_TOKEN_LABEL = "demo (make run)"  # noqa: S105 - a label, not a secret


@cli.command("demo")
def demo() -> None:
    """Create the demo organization once; print its URLs, a fresh SCIM token and a sign-in link.

    Each run revokes the previous demo SCIM token, so only the one printed last works.
    """
    settings = settings_of(current_app)
    actor = operator()
    with unit_of_work() as session:
        try:
            organization = get_organization(session, DEMO_SLUG)
            created = False
        except NotFound:
            today = dt.datetime.now(dt.UTC).date()
            organization = create_organization(
                session,
                NewOrganization(
                    slug=DEMO_SLUG,
                    name="Demo Organization",
                    seats=10,
                    seat_price_minor=3000,
                    currency="USD",
                    term_start=today.replace(day=1),
                    auto_renew=True,
                    primary_owner_email=DEMO_OWNER,
                ),
                actor=actor,
            )
            created = True
        for earlier in scim_tokens.list_tokens(session, organization):
            if earlier.label == DEMO_TOKEN_LABEL and earlier.revoked_at is None:
                scim_tokens.revoke_token(session, organization, earlier.id, actor=actor)
        token = scim_tokens.create_token(session, organization, label=DEMO_TOKEN_LABEL, actor=actor)
        sign_in = None
        if settings.env == "development":
            owner = get_member(session, organization, DEMO_OWNER)
            sign_in = create_link(session, owner, actor=actor).token
        usage = _usage(session, organization.id)
        has_idp = session.scalar(
            select(IdentityProvider.id).where(IdentityProvider.organization_id == organization.id)
        )
    base = settings.base_url.rstrip("/")
    emit(
        {
            "organization": DEMO_SLUG,
            "created": created,
            "primary_owner": DEMO_OWNER,
            "seats": usage,
            "urls": {
                "health": f"{base}/healthz",
                "billing": f"{base}/settings/billing",
                "owner_sign_in": f"{base}/dev/login/{sign_in}" if sign_in else None,
                "scim_base": f"{base}/scim/v2",
                # the SP metadata exists once an IdP is configured (`seatgate sso configure`)
                "sso_metadata": f"{base}/sso/{DEMO_SLUG}/metadata" if has_idp else None,
                "openapi": f"{base}/api/v1/openapi.json",
            },
            "scim_token": token.secret,
        }
    )


def _usage(session: Session, organization_id: int) -> dict[str, object]:
    return seat_usage(session, organization_id).as_dict()


def main() -> None:
    """Console-script entry point; configuration errors end here with exit status 2."""
    try:
        load_settings()
    except SettingsError as error:
        fail(f"configuration: {error}", 2)
    cli.main(prog_name="seatgate")
