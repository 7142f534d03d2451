"""An organization's e-mail domains: when it lists any, its members must belong to one.

The check runs before any seat is claimed (SCIM creation and e-mail changes, SSO sign-in),
so a refused address never takes a seat. Domains are added by an operator, who has verified
that the organization owns them; an organization with no domain listed accepts any address.

Domains are stored and compared IDNA-encoded (:func:`app.addresses.domain_key`), so
``bücher.example`` and ``xn--bcher-kva.example`` are one domain however either side spells
it, and ``straße.example`` is not ``strasse.example`` (IDNA 2008, not 2003).
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from app import audit
from app.addresses import domain_key, domain_of
from app.errors import DomainNotAllowed, InvalidInput, NotFound
from app.ledger import Actor
from app.models import Organization, OrganizationDomain, utcnow

# At least two labels, the last a name (letters, or an internationalized one's A-label).
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)


def normalize_domain(text: str) -> str:
    """The domain as stored and compared: IDNA-encoded, lower-case, no final dot."""
    domain = domain_key(text.strip())
    if not _DOMAIN.match(domain):
        raise InvalidInput(f"{text!r} is not a domain name such as example.com.")
    return domain


# Built once: every SCIM create and SSO first sign-in checks the domains
# (bench/RESULTS.md, fourth round).
_DOMAINS_OF = (
    select(OrganizationDomain.domain)
    .where(OrganizationDomain.organization_id == bindparam("organization_id"))
    .order_by(OrganizationDomain.domain)
)


def list_domains(session: Session, organization_id: int) -> list[str]:
    return list(session.scalars(_DOMAINS_OF, {"organization_id": organization_id}))


def add_domain(session: Session, organization: Organization, text: str, *, actor: Actor) -> str:
    domain = normalize_domain(text)
    if domain not in list_domains(session, organization.id):
        session.add(
            OrganizationDomain(organization_id=organization.id, domain=domain, created_at=utcnow())
        )
        audit.record(session, actor, "domain.add", organization_id=organization.id, target=domain)
        session.flush()
    return domain


def remove_domain(session: Session, organization: Organization, text: str, *, actor: Actor) -> str:
    domain = normalize_domain(text)
    removed = session.execute(
        delete(OrganizationDomain).where(
            OrganizationDomain.organization_id == organization.id,
            OrganizationDomain.domain == domain,
        )
    )
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"{domain} is not a domain of organization {organization.slug!r}.")
    audit.record(session, actor, "domain.remove", organization_id=organization.id, target=domain)
    return domain


def check_allowed(session: Session, organization_id: int, email: str) -> None:
    """Raise :class:`DomainNotAllowed` unless ``email`` is in one of the organization's domains
    (or the organization lists none)."""
    require_allowed(email, list_domains(session, organization_id))


def require_allowed(email: str, domains: list[str]) -> None:
    """:func:`check_allowed` against ``domains`` already read (a SCIM create reads them in
    the statement that checks the userName)."""
    if not domains:
        return
    try:
        domain = domain_of(email)
    except InvalidInput:  # no domain name at all: in none of the listed ones
        domain = None
    if domain is not None and any(
        domain == allowed or domain.endswith("." + allowed) for allowed in domains
    ):
        return
    raise DomainNotAllowed(
        f"{email} is not in this organization's e-mail domains ({', '.join(domains)})."
    )
