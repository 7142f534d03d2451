"""``seatgate setup-link create|list|revoke``, ``logs prune``, ``domain add|remove|list``,
``waiting-list``.

Same conventions as :mod:`app.cli`: JSON on stdout, one error line on stderr, exit 1.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from flask import Blueprint, current_app
from flask.cli import AppGroup

from app import connection_logs, database_of, domains, settings_of, setup_links, waiting_list
from app.cli import WholeNumber, emit, operator, reports_domain_errors, unit_of_work
from app.models import IdpSubmission, ScimToken, SetupLink
from app.organizations import get_organization
from app.settings import MAX_RETENTION_DAYS

commands = Blueprint("self_serve_commands", __name__, cli_group=None)
domain_group = AppGroup("domain", help="E-mail domains an organization's members must use.")
waiting_group = AppGroup("waiting-list", help="People refused for lack of a seat.")
logs_group = AppGroup("logs", help="Connection logs (SSO sign-ins, SCIM requests).")


def setup_url(token: str) -> str:
    return f"{settings_of(current_app).base_url.rstrip('/')}/setup/{token}"


class SetupLinkGroup(AppGroup):
    """``seatgate setup-link SLUG`` (from before the subcommands) still means ``create SLUG``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["create", *args]
        return super().resolve_command(ctx, args)


setup_link_group = SetupLinkGroup(
    "setup-link", help="One-time links for an organization's IT admin to set up SSO and SCIM."
)


@setup_link_group.command("create")
@click.argument("slug")
@click.option(
    "--hours",
    type=WholeNumber(1, 168),
    default=24,
    show_default=True,
    help="How long the link works (it also ends when the setup is finished)",
)
@reports_domain_errors
def setup_link_create(slug: str, hours: int) -> None:
    """A one-time link for SLUG's IT admin to set up SSO and SCIM alone."""
    with unit_of_work() as session:
        issued = setup_links.create_link(
            session,
            get_organization(session, slug),
            actor=operator(),
            lifetime=dt.timedelta(hours=hours),
        )
        emit(
            {
                "organization": slug,
                "id": issued.link.id,
                "url": setup_url(issued.token),
                "expires_at": issued.link.expires_at.isoformat(),
            }
        )


@setup_link_group.command("list")
@click.argument("slug")
@reports_domain_errors
def setup_link_list(slug: str) -> None:
    """SLUG's setup links, newest first, and what each left waiting for approval."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        overview = setup_links.overview(session, organization)
        pending_idp = overview.pending_idp
        emit(
            {
                "organization": slug,
                "setup_links": [
                    _listed(link, pending_idp, overview.pending_tokens)
                    for link in setup_links.list_links(session, organization)
                ],
            }
        )


def _listed(
    link: SetupLink,
    pending_idp: IdpSubmission | None,
    pending_tokens: list[tuple[ScimToken, SetupLink | None]],
) -> dict[str, Any]:
    return {
        **setup_links.link_dict(link),
        "pending_idp_submission": pending_idp.id
        if pending_idp is not None and pending_idp.setup_link_id == link.id
        else None,
        "pending_scim_tokens": [t.id for t, _ in pending_tokens if t.setup_link_id == link.id],
    }


@setup_link_group.command("revoke")
@click.argument("slug")
@click.argument("link_id", type=WholeNumber(1, 2**31 - 1))
@reports_domain_errors
def setup_link_revoke(slug: str, link_id: int) -> None:
    """Stop setup link LINK_ID now; its pending IdP configuration and SCIM tokens are
    withdrawn (rejected, revoked)."""
    with unit_of_work() as session:
        link = setup_links.revoke_link(
            session, get_organization(session, slug), link_id, actor=operator()
        )
        emit({"organization": slug, **setup_links.link_dict(link)})


@logs_group.command("prune")
@click.option(
    "--days", type=WholeNumber(1, MAX_RETENTION_DAYS), help="Keep this many days (default: setting)"
)
def logs_prune(days: int | None) -> None:
    """Delete connection logs older than the retention (``logs.retention_days``)."""
    retention = days or settings_of(current_app).logs.retention_days
    with unit_of_work() as session:
        removed = connection_logs.prune(session, retention_days=retention)
    emit({"retention_days": retention, "removed": removed})


@domain_group.command("add")
@click.argument("slug")
@click.argument("domain")
@reports_domain_errors
def domain_add(slug: str, domain: str) -> None:
    """Restrict SLUG's members to DOMAIN (and the other listed domains)."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        domains.add_domain(session, organization, domain, actor=operator())
        emit({"organization": slug, "domains": domains.list_domains(session, organization.id)})


@domain_group.command("remove")
@click.argument("slug")
@click.argument("domain")
@reports_domain_errors
def domain_remove(slug: str, domain: str) -> None:
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        domains.remove_domain(session, organization, domain, actor=operator())
        emit({"organization": slug, "domains": domains.list_domains(session, organization.id)})


@domain_group.command("list")
@click.argument("slug")
@reports_domain_errors
def domain_list(slug: str) -> None:
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        emit({"organization": slug, "domains": domains.list_domains(session, organization.id)})


@waiting_group.command("show")
@click.argument("slug")
@reports_domain_errors
def waiting_show(slug: str) -> None:
    """Who is waiting for a seat (oldest first) and whether added seats go to them."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        emit(
            {
                "organization": slug,
                "auto_provision": waiting_list.auto_provision(session, organization.id),
                "waiting": [
                    waiting_list.entry_dict(e)
                    for e in waiting_list.pending(session, organization.id)
                ],
            }
        )


@waiting_group.command("auto")
@click.argument("slug")
@click.option(
    "--on/--off", "enabled", required=True, help="Provision the list when seats are added"
)
@reports_domain_errors
def waiting_auto(slug: str, enabled: bool) -> None:
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        waiting_list.set_auto_provision(session, organization, enabled, actor=operator())
    emit({"organization": slug, "auto_provision": enabled})


commands.cli.add_command(setup_link_group)
commands.cli.add_command(waiting_group)
commands.cli.add_command(domain_group)
commands.cli.add_command(logs_group)
