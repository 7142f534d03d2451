"""``seatgate sso configure|show`` and ``seatgate keys rotate|list``.

Same conventions as :mod:`app.cli`: JSON on stdout, one error line on stderr, exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app import database_of, sessions, settings_of
from app.cli import emit, fail, operator, reports_domain_errors, unit_of_work
from app.errors import InvalidInput
from app.models import RequiredSignature, TokenSigningKey, utcnow
from app.organizations import get_organization
from sso import saml
from sso.errors import SignInRefused
from sso.providers import (
    DEFAULT_ATTRIBUTE_MAP,
    IdpDescription,
    PolicyChange,
    configure,
    describe_from_metadata,
    get_provider,
    provider_dict,
)

sso_group = AppGroup("sso", help="SAML single sign-on: configure an organization's IdP.")
keys_group = AppGroup("keys", help="Session-token signing keys (published at the JWKS URL).")


def _toggle(name: str, help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(f"--{name}/--no-{name}", default=None, help=help_text)


@sso_group.command("configure")
@click.argument("slug")
@click.option("--metadata", "metadata_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--entity-id", help="IdP entity id (issuer), instead of --metadata")
@click.option("--sso-url", help="IdP SSO URL (HTTP-Redirect binding), instead of --metadata")
@click.option("--slo-url", help="IdP single logout URL (optional)")
@click.option(
    "--cert",
    "cert_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="IdP signing certificate (PEM); repeat to pin several during a rotation",
)
@_toggle("idp-initiated", "Accept IdP-initiated (unsolicited) sign-ins (default: off)")
@_toggle("jit", "Give unknown users a seat at first sign-in if one is free (default: on)")
@_toggle("sign-requests", "Sign AuthnRequests with the organization's SP key (default: off)")
@click.option(
    "--require-signed",
    type=click.Choice([r.value for r in RequiredSignature]),
    help="Which part the IdP must sign (default: assertion)",
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    metavar="KIND=NAME",
    help=f"Read KIND ({', '.join(DEFAULT_ATTRIBUTE_MAP)}) from attribute NAME; repeatable",
)
@click.option(
    "--allow-redirect",
    "allowed_redirects",
    multiple=True,
    metavar="URL",
    help="URL prefix users may be sent to after sign-in; repeatable; replaces the list",
)
@click.option("--clear-redirects", is_flag=True, help="Allow only seatgate's own URLs")
@reports_domain_errors
def sso_configure(
    slug: str,
    metadata_file: str | None,
    entity_id: str | None,
    sso_url: str | None,
    slo_url: str | None,
    cert_files: tuple[str, ...],
    idp_initiated: bool | None,
    jit: bool | None,
    sign_requests: bool | None,
    require_signed: str | None,
    attributes: tuple[str, ...],
    allowed_redirects: tuple[str, ...],
    clear_redirects: bool,
) -> None:
    """Create or update SLUG's IdP from --metadata FILE or --entity-id/--sso-url/--cert."""
    description = _description(metadata_file, entity_id, sso_url, slo_url, cert_files)
    redirects: list[str] | None = list(allowed_redirects) if allowed_redirects else None
    if clear_redirects:
        redirects = []
    change = PolicyChange(
        allow_idp_initiated=idp_initiated,
        jit_provisioning=jit,
        sign_authn_requests=sign_requests,
        required_signature=RequiredSignature(require_signed) if require_signed else None,
        attribute_map=_attribute_map(attributes),
        allowed_redirects=redirects,
    )
    settings = settings_of(current_app)
    with unit_of_work() as session:
        organization = get_organization(session, slug)
        provider = configure(
            session,
            organization,
            description=description,
            change=change,
            secret_key=settings.secret_key,
            actor=operator(),
        )
        emit({"organization": slug, **provider_dict(provider), **_sp_urls(slug)})


@sso_group.command("show")
@click.argument("slug")
@reports_domain_errors
def sso_show(slug: str) -> None:
    """SLUG's IdP settings and the URLs to give the IdP."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        try:
            provider = get_provider(session, organization)
        except SignInRefused:
            fail(f"organization {slug!r} has no IdP configured; run `seatgate sso configure`")
        emit({"organization": slug, **provider_dict(provider), **_sp_urls(slug)})


def _sp_urls(slug: str) -> dict[str, str]:
    endpoints = saml.SpEndpoints(base_url=settings_of(current_app).base_url, slug=slug)
    return {
        "sp_entity_id": endpoints.entity_id,
        "acs_url": endpoints.acs,
        "sp_metadata_url": endpoints.entity_id,
        "login_url": f"{endpoints.root}/login",
    }


def _description(
    metadata_file: str | None,
    entity_id: str | None,
    sso_url: str | None,
    slo_url: str | None,
    cert_files: tuple[str, ...],
) -> IdpDescription | None:
    explicit = entity_id or sso_url or cert_files
    if metadata_file and explicit:
        raise InvalidInput("Give either --metadata or --entity-id/--sso-url/--cert, not both.")
    if metadata_file:
        described = describe_from_metadata(Path(metadata_file).read_bytes())
        if slo_url:
            return IdpDescription(
                entity_id=described.entity_id,
                sso_url=described.sso_url,
                certificates=described.certificates,
                slo_url=slo_url,
            )
        return described
    if not explicit:
        return None
    if not (entity_id and sso_url and cert_files):
        raise InvalidInput("--entity-id, --sso-url and at least one --cert go together.")
    return IdpDescription(
        entity_id=entity_id,
        sso_url=sso_url,
        slo_url=slo_url,
        certificates=[Path(path).read_text() for path in cert_files],
    )


def _attribute_map(pairs: tuple[str, ...]) -> dict[str, list[str]]:
    mapping: dict[str, list[str]] = {}
    for pair in pairs:
        kind, sep, name = pair.partition("=")
        if not sep or not kind.strip() or not name.strip():
            raise InvalidInput(f"--attribute expects KIND=NAME, got {pair!r}.")
        mapping.setdefault(kind.strip(), []).append(name.strip())
    return mapping


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key; older keys stay published until their tokens expire."""
    settings = settings_of(current_app)
    with unit_of_work() as session:
        key = sessions.rotate(session, settings.secret_key, now=utcnow())
        emit({"kid": key.kid, "algorithm": key.algorithm, "created_at": key.created_at})


@keys_group.command("list")
def keys_list() -> None:
    """Every signing key, newest first, and whether it is still published."""
    settings = settings_of(current_app)
    now = utcnow()
    with database_of(current_app).unit_of_work(write=False) as session:
        published = {k["kid"] for k in sessions.published_keys(session, settings, now=now)["keys"]}
        keys = session.scalars(select(TokenSigningKey).order_by(TokenSigningKey.created_at.desc()))
        emit(
            [
                {
                    "kid": key.kid,
                    "algorithm": key.algorithm,
                    "created_at": key.created_at,
                    "retired_at": key.retired_at,
                    "published": key.kid in published,
                }
                for key in keys
            ]
        )
