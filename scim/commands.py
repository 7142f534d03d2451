"""``seatgate token create|list|revoke``: the SCIM bearer tokens of an organization, and
``seatgate roles map|unmap|list``: roles given by identity-provider groups."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app

from app import database_of
from app.cli import WholeNumber, emit, operator, reports_domain_errors, unit_of_work
from app.group_roles import MAPPABLE_ROLES, list_mappings, map_group, unmap_group
from app.models import GroupRoleMapping, ScimToken
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
        "awaiting_approval": token.awaiting_approval,  # issued through a setup link
        "setup_link_id": token.setup_link_id,
    }


@blueprint.cli.group("token")
def token() -> None:
    """SCIM bearer tokens (one per identity provider connection)."""


@token.command("create")
@click.argument("slug")
@click.option("--label", default="SCIM", show_default=True, help="Which connection uses it")
@reports_domain_errors
def token_create(slug: str, label: str) -> None:
    """Issue a token, printed once as "token" in the output; only its hash is kept."""
    with unit_of_work() as session:
        issued = create_token(
            session, get_organization(session, slug), label=label, actor=operator()
        )
        emit({**token_dict(issued.token), "token": issued.secret})


@token.command("list")
@click.argument("slug")
@reports_domain_errors
def token_list(slug: str) -> None:
    with database_of(current_app).unit_of_work(write=False) as session:
        emit([token_dict(t) for t in list_tokens(session, get_organization(session, slug))])


@token.command("revoke")
@click.argument("slug")
@click.argument("token_id", type=WholeNumber())
@reports_domain_errors
def token_revoke(slug: str, token_id: int) -> None:
    """Revoke a token at once; requests with it get 401 from then on."""
    with unit_of_work() as session:
        revoked = revoke_token(session, get_organization(session, slug), token_id, actor=operator())
        emit(token_dict(revoked))


def mapping_dict(mapping: GroupRoleMapping) -> dict[str, Any]:
    return {"group": mapping.group_name, "role": mapping.role}


@blueprint.cli.group("roles")
def roles() -> None:
    """Roles from identity-provider groups (pushed over SCIM)."""


@roles.command("map")
@click.argument("slug")
@click.argument("group_name")
@click.argument("role", type=click.Choice([r.value for r in MAPPABLE_ROLES]))
@reports_domain_errors
def roles_map(slug: str, group_name: str, role: str) -> None:
    """Give ROLE to every member of the group GROUP_NAME (case-insensitive), now and later."""
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        emit(mapping_dict(map_group(session, organization, group_name, role, actor=operator())))


@roles.command("unmap")
@click.argument("slug")
@click.argument("group_name")
@reports_domain_errors
def roles_unmap(slug: str, group_name: str) -> None:
    """Stop mapping GROUP_NAME; its members fall back to their other groups' role, or user."""
    with unit_of_work() as session:
        unmap_group(session, get_organization(session, slug), group_name, actor=operator())
        emit({"group": group_name, "unmapped": True})


@roles.command("list")
@click.argument("slug")
@reports_domain_errors
def roles_list(slug: str) -> None:
    with database_of(current_app).unit_of_work(write=False) as session:
        emit([mapping_dict(m) for m in list_mappings(session, get_organization(session, slug))])
