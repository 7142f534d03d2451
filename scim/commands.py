"""``seatgate token create|list|revoke``: the SCIM bearer tokens of an organization."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app

from app import database_of
from app.cli import emit, operator, reports_domain_errors, unit_of_work
from app.models import ScimToken
from app.organizations import get_organization
from app.scim_tokens import create_token, list_tokens, revoke_token
from scim.blueprint import blueprint


def token_dict(token: ScimToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.label,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@blueprint.cli.group("token")
def token() -> None:
    """SCIM bearer tokens (one per identity provider connection)."""


@token.command("create")
@click.argument("slug")
@click.option("--label", default="SCIM", show_default=True, help="Which connection uses it")
@reports_domain_errors
def token_create(slug: str, label: str) -> None:
    """Issue a token. It is printed once, alone on the last line; only its hash is kept."""
    with unit_of_work() as session:
        issued = create_token(
            session, get_organization(session, slug), label=label, actor=operator()
        )
        emit(token_dict(issued.token))
    click.echo(issued.secret)


@token.command("list")
@click.argument("slug")
@reports_domain_errors
def token_list(slug: str) -> None:
    with database_of(current_app).unit_of_work(write=False) as session:
        emit([token_dict(t) for t in list_tokens(session, get_organization(session, slug))])


@token.command("revoke")
@click.argument("slug")
@click.argument("token_id", type=int)
@reports_domain_errors
def token_revoke(slug: str, token_id: int) -> None:
    """Revoke a token at once; requests with it get 401 from then on."""
    with unit_of_work() as session:
        revoked = revoke_token(session, get_organization(session, slug), token_id, actor=operator())
        emit(token_dict(revoked))
