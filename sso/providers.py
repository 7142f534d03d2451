"""Per-organization IdP configuration and sign-in policy (``seatgate sso configure``).

The IdP is described by its entity id, SSO URL, optional SLO URL and the signing
certificates seatgate pins (several, so an IdP key rotation can be staged before it happens).
Certificates are pinned in full; fingerprints are never accepted.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app import audit, crypto, idp_changes
from app.errors import InvalidInput
from app.ledger import Actor
from app.models import IdentityProvider, Organization, RequiredSignature, utcnow
from sso.errors import SsoNotConfigured
from sso.redirects import parse_allowed_redirect

# Attribute names each identity kind is read from, first match wins (names compare
# case-insensitively). Okta and Google Workspace send the names the admin types (we document
# "email", "firstName", "lastName"); Entra ID sends its claim URIs; LDAP-style IdPs send OIDs.
DEFAULT_ATTRIBUTE_MAP: dict[str, list[str]] = {
    "email": [
        "email",
        "mail",
        "emailAddress",
        "user.email",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "urn:oid:1.2.840.113549.1.9.1.1",
    ],
    "display_name": [
        "displayName",
        "name",
        "http://schemas.microsoft.com/identity/claims/displayname",
        "urn:oid:2.16.840.1.113730.3.1.241",
    ],
    "given_name": [
        "firstName",
        "givenName",
        "given_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "urn:oid:2.5.4.42",
    ],
    "family_name": [
        "lastName",
        "surname",
        "sn",
        "family_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "urn:oid:2.5.4.4",
    ],
}


@dataclass(frozen=True)
class IdpDescription:
    """What seatgate must know about the IdP, from its metadata or from explicit options."""

    entity_id: str
    sso_url: str
    certificates: list[str]
    slo_url: str | None = None


@dataclass(frozen=True)
class PolicyChange:
    """Options given on the command line; ``None`` keeps the current (or default) value."""

    allow_idp_initiated: bool | None = None
    jit_provisioning: bool | None = None
    sign_authn_requests: bool | None = None
    required_signature: RequiredSignature | None = None
    attribute_map: Mapping[str, Sequence[str]] = field(default_factory=dict)
    allowed_redirects: Sequence[str] | None = None


def describe_from_metadata(metadata: bytes) -> IdpDescription:
    """Read an IdP's metadata XML (parsed with DTDs and entities forbidden)."""
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(
            metadata, required_slo_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT
        )
    except Exception as exc:  # any parser failure is a bad file, whatever the library raised
        raise InvalidInput(f"The metadata is not readable SAML metadata XML: {exc}") from exc
    idp = parsed.get("idp", {})
    certificates = idp.get("x509certMulti", {}).get("signing") or (
        [idp["x509cert"]] if idp.get("x509cert") else []
    )
    if not idp.get("entityId") or not idp.get("singleSignOnService"):
        raise InvalidInput(
            "The metadata has no IDPSSODescriptor with an entity id and an HTTP-Redirect "
            "SingleSignOnService."
        )
    return IdpDescription(
        entity_id=idp["entityId"],
        sso_url=idp["singleSignOnService"]["url"],
        slo_url=idp.get("singleLogoutService", {}).get("url"),
        certificates=certificates,
    )


# Built once: every sign-in reads the provider (bench/RESULTS.md, fourth round).
_PROVIDER_OF = select(IdentityProvider).where(
    IdentityProvider.organization_id == bindparam("organization_id")
)


_ORGANIZATION_AND_PROVIDER = (
    select(Organization, IdentityProvider)
    .outerjoin(IdentityProvider, IdentityProvider.organization_id == Organization.id)
    .where(Organization.slug == bindparam("slug"))
)


def organization_and_provider(
    session: Session, slug: str
) -> tuple[Organization, IdentityProvider | None]:
    """The organization at ``slug`` and its IdP, if any, read in one statement: every SAML
    endpoint needs both, and a sign-in should not pay a second round trip for the second."""
    row = session.execute(_ORGANIZATION_AND_PROVIDER, {"slug": slug}).one_or_none()
    if row is None:
        raise SsoNotConfigured(f"no organization {slug!r}")
    return row.Organization, row.IdentityProvider


def configured(organization: Organization, provider: IdentityProvider | None) -> IdentityProvider:
    """``provider``, or the refusal an organization without an IdP gets."""
    if provider is None:
        raise SsoNotConfigured(f"organization {organization.slug!r} has no IdP configured")
    return provider


def find_provider(session: Session, organization: Organization) -> IdentityProvider | None:
    return session.scalar(_PROVIDER_OF, {"organization_id": organization.id})


def get_provider(session: Session, organization: Organization) -> IdentityProvider:
    return configured(organization, find_provider(session, organization))


def configure(
    session: Session,
    organization: Organization,
    *,
    description: IdpDescription | None,
    change: PolicyChange,
    secret_key: str,
    actor: Actor,
    announce: bool = True,
) -> IdentityProvider:
    """Create or update the organization's IdP; the first call needs a ``description``.

    The owners are alerted (``sso_changed``), unless ``announce`` is off because the caller
    writes its own alert for the same change (an owner's approval).
    """
    provider = find_provider(session, organization)
    previous = idp_changes.describe_provider(provider)
    if provider is None:
        if description is None:
            raise InvalidInput(
                "First configuration needs --metadata FILE or --entity-id, --sso-url and --cert."
            )
        provider = _new_provider(organization.id)
        _new_sp_key(provider, organization, secret_key)
        session.add(provider)
    else:
        _renew_sp_key_if_unreadable(provider, organization, secret_key)
    if description is not None:
        _apply_description(provider, description)
    _apply_policy(provider, change)
    provider.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "sso.configure",
        organization_id=organization.id,
        target=provider.entity_id,
        details=provider_dict(provider),
    )
    if announce:
        idp_changes.announce(
            session,
            organization.id,
            "configured",
            actor,
            idp=idp_changes.describe_provider(provider),
            previous=previous,
        )
    return provider


def _new_provider(organization_id: int) -> IdentityProvider:
    """A provider with the default sign-in policy and no IdP described yet."""
    return IdentityProvider(
        organization_id=organization_id,
        allow_idp_initiated=False,
        jit_provisioning=True,
        sign_authn_requests=False,
        required_signature=RequiredSignature.ASSERTION.value,
        attribute_map={},
        allowed_redirects=[],
    )


def unsaved_provider(
    organization_id: int, current: IdentityProvider | None, description: IdpDescription
) -> IdentityProvider:
    """``description`` with ``current``'s policy and SP key (or the defaults, and no SP key),
    checked as :func:`configure` checks it, and never added to a session: what a setup page's
    test sign-in runs against while the description waits for an owner's approval."""
    provider = _new_provider(organization_id)
    if current is not None:
        for column in _KEPT_FOR_A_TEST:
            setattr(provider, column, getattr(current, column))
    else:
        provider.sp_certificate = provider.sp_private_key = ""
        provider.sign_authn_requests = False  # nothing to sign with before the first approval
    _apply_description(provider, description)
    return provider


_KEPT_FOR_A_TEST = (
    "allow_idp_initiated",
    "jit_provisioning",
    "sign_authn_requests",
    "required_signature",
    "attribute_map",
    "allowed_redirects",
    "sp_certificate",
    "sp_private_key",
)


def _new_sp_key(provider: IdentityProvider, organization: Organization, secret_key: str) -> None:
    key = crypto.new_rsa_key()
    provider.sp_private_key = crypto.seal_private_key(key, secret_key)
    provider.sp_certificate = crypto.self_signed_certificate(key, f"seatgate {organization.slug}")


def _renew_sp_key_if_unreadable(
    provider: IdentityProvider, organization: Organization, secret_key: str
) -> None:
    """After a ``secret_key`` change the sealed SP key cannot be opened: make a new one
    (IdPs that verify signed AuthnRequests must then re-import the SP metadata)."""
    try:
        crypto.open_private_key(provider.sp_private_key, secret_key)
    except ValueError:
        _new_sp_key(provider, organization, secret_key)


def _apply_description(provider: IdentityProvider, description: IdpDescription) -> None:
    if not description.entity_id.strip():
        raise InvalidInput("The IdP entity id must not be empty.")
    if not description.certificates:
        raise InvalidInput("At least one IdP signing certificate must be pinned.")
    sso_url = _endpoint(description.sso_url, "SSO URL")
    slo_url = _endpoint(description.slo_url, "SLO URL") if description.slo_url else None
    check_with_python3_saml(description)
    provider.entity_id = description.entity_id.strip()
    provider.sso_url = sso_url
    provider.slo_url = slo_url
    provider.certificates = [crypto.normalize_certificate(c) for c in description.certificates]


def _apply_policy(provider: IdentityProvider, change: PolicyChange) -> None:
    if change.allow_idp_initiated is not None:
        provider.allow_idp_initiated = change.allow_idp_initiated
    if change.jit_provisioning is not None:
        provider.jit_provisioning = change.jit_provisioning
    if change.sign_authn_requests is not None:
        provider.sign_authn_requests = change.sign_authn_requests
    if change.required_signature is not None:
        provider.required_signature = change.required_signature.value
    if change.attribute_map:
        unknown = sorted(set(change.attribute_map) - set(DEFAULT_ATTRIBUTE_MAP))
        if unknown:
            raise InvalidInput(
                f"Unknown attribute {unknown[0]!r}; known: {', '.join(DEFAULT_ATTRIBUTE_MAP)}."
            )
        merged = dict(provider.attribute_map or {})
        merged.update({kind: list(names) for kind, names in change.attribute_map.items()})
        provider.attribute_map = merged
    if change.allowed_redirects is not None:
        provider.allowed_redirects = [
            parse_allowed_redirect(entry) for entry in change.allowed_redirects
        ]


def _endpoint(url: str, name: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        raise InvalidInput(f"The IdP {name} must be an absolute http(s) URL, got {url!r}.")
    return url.strip()


def attribute_map(provider: IdentityProvider) -> dict[str, list[str]]:
    """The effective mapping: the organization's overrides on top of the defaults."""
    return {**DEFAULT_ATTRIBUTE_MAP, **(provider.attribute_map or {})}


def provider_dict(provider: IdentityProvider) -> dict[str, Any]:
    return {
        "entity_id": provider.entity_id,
        "sso_url": provider.sso_url,
        "slo_url": provider.slo_url,
        "certificates": [crypto.certificate_summary(c) for c in provider.certificates],
        "allow_idp_initiated": provider.allow_idp_initiated,
        "jit_provisioning": provider.jit_provisioning,
        "sign_authn_requests": provider.sign_authn_requests,
        "required_signature": provider.required_signature,
        "attribute_map": attribute_map(provider),
        "allowed_redirects": list(provider.allowed_redirects or []),
    }


# python3-saml checks an IdP's settings with a method of a settings object; this one holds
# only a stand-in for seatgate's own SP (whose URLs come from ``base_url``, not from the IdP).
_STAND_IN_SP = {
    "entityId": "https://seatgate.example/sso/check/metadata",
    "assertionConsumerService": {
        "url": "https://seatgate.example/sso/check/acs",
        "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
    },
}


@functools.cache
def _python3_saml_checker() -> OneLogin_Saml2_Settings:
    return OneLogin_Saml2_Settings({"sp": _STAND_IN_SP}, sp_validation_only=True)


def check_with_python3_saml(description: IdpDescription) -> None:
    """Refuse, before anything is saved, an IdP that python3-saml's own settings check
    (``check_idp_settings``) refuses: saved, it made every login, metadata and ACS request
    of the organization fail (issue 19: ``https://adfs/adfs/ls``, a host without a dot)."""
    idp: dict[str, Any] = {
        "entityId": description.entity_id.strip(),
        "singleSignOnService": {"url": description.sso_url.strip()},
        "x509certMulti": {"signing": list(description.certificates)},
    }
    if description.slo_url:
        idp["singleLogoutService"] = {"url": description.slo_url.strip()}
    refused = _python3_saml_checker().check_idp_settings(
        {"idp": idp, "security": {"wantAssertionsSigned": True}}
    )
    reasons = {
        "idp_sso_url_invalid": ("SSO URL", description.sso_url),
        "idp_slo_url_invalid": ("SLO URL", description.slo_url),
    }
    for code in refused:
        if code in reasons:
            name, url = reasons[code]
            raise InvalidInput(
                f"The IdP {name} {url!r} is not a URL python3-saml accepts: use the full host "
                "name (with its domain, e.g. adfs.example.com), localhost or an IP address."
            )
    if refused:
        raise InvalidInput(f"python3-saml refuses these IdP settings: {', '.join(refused)}.")
