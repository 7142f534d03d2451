"""Look-alike addresses at the SAML door: a sign-in is the member whose identity key it has.

The key (``app.addresses``) lower-cases ASCII letters only, so ``ſam@`` (long s) and
``straße@`` are other people than ``sam@`` and ``strasse@``; the Kelvin sign is canonically
``K``, so ``\u212aate@`` is ``kate@``; domains compare IDNA-encoded, so the allowlist's
``bücher.example`` and an address at ``xn--bcher-kva.example`` match, both ways.
"""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

from app import domains
from app.db import Database
from app.ledger import seat_usage
from app.models import Member, Role
from app.organizations import get_organization
from tests.factories import OPERATOR, add_users
from tests.sso.conftest import Door, location_of

DOMAIN = "acme.example.com"


def signed_in_as(door: Door) -> tuple[str, str]:
    """The member id and e-mail of the session the last sign-in set."""
    cookie = door.client.get_cookie("seatgate_session", domain="localhost")
    assert cookie is not None
    claims = jwt.decode(cookie.value, options={"verify_signature": False})
    return claims["sub"], claims["email"]


def members(database: Database) -> dict[str, int]:
    with database.unit_of_work(write=False) as session:
        return {email: id_ for id_, email in session.execute(select(Member.id, Member.email))}


@pytest.mark.parametrize(
    ("existing", "look_alike"),
    [("sam", "\u017fam"), ("strasse", "straße")],
    ids=["long-s", "sharp-s"],
)
def test_a_look_alike_signs_in_as_another_member(
    door: Door, database: Database, existing: str, look_alike: str
) -> None:
    assert door.sign_in(f"{existing}@{DOMAIN}").status_code == 303
    first = signed_in_as(door)
    response = door.sign_in(f"{look_alike}@{DOMAIN}")
    assert response.status_code == 303, response.get_data(as_text=True)
    second = signed_in_as(door)
    assert second != first
    assert second[1] == f"{look_alike}@{DOMAIN}"
    everyone = members(database)
    assert everyone[f"{existing}@{DOMAIN}"] != everyone[f"{look_alike}@{DOMAIN}"]
    with database.unit_of_work(write=False) as session:
        assert seat_usage(session, get_organization(session, "acme").id).assigned == 2


def test_a_look_alike_of_an_owner_gets_no_billing_session(door: Door, database: Database) -> None:
    """With every seat taken, an Owner still reaches billing; ``ſam@`` is not that Owner."""
    add_users(database, "acme", [f"sam@{DOMAIN}"], role=Role.OWNER)
    assert door.sign_in(f"alice@{DOMAIN}").status_code == 303
    assert door.sign_in(f"bob@{DOMAIN}").status_code == 303
    refused = door.sign_in(f"\u017fam@{DOMAIN}")
    assert refused.status_code == 403
    assert "No seat available" in refused.get_data(as_text=True)
    assert "seatgate_session" not in refused.headers.get("Set-Cookie", "")
    owner = door.sign_in(f"SAM@{DOMAIN}")  # ASCII case is the same address
    assert location_of(owner).startswith("/settings/billing")


def test_the_kelvin_sign_is_the_same_address_as_k(door: Door, database: Database) -> None:
    assert door.sign_in(f"kate@{DOMAIN}").status_code == 303
    first = signed_in_as(door)
    assert door.sign_in(f"\u212aate@{DOMAIN}").status_code == 303
    assert signed_in_as(door) == first
    assert len(members(database)) == 2  # the Primary Owner and kate


@pytest.mark.parametrize(
    ("listed", "signing_in"),
    [("bücher.example", "xn--bcher-kva.example"), ("xn--bcher-kva.example", "BÜCHER.example")],
    ids=["unicode-listed", "punycode-listed"],
)
def test_an_internationalized_domain_on_the_allowlist_admits_its_addresses(
    door: Door, database: Database, listed: str, signing_in: str
) -> None:
    with database.unit_of_work() as session:
        domains.add_domain(session, get_organization(session, "acme"), listed, actor=OPERATOR)
    response = door.sign_in(f"anna@{signing_in}")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert signed_in_as(door)[1] == "anna@bücher.example"
    again = door.sign_in("Anna@bücher.example")  # the same member, whatever the spelling
    assert again.status_code == 303
    assert len(members(database)) == 2
    outsider = door.sign_in("anna@buecher.example")
    assert outsider.status_code == 403
    assert "E-mail domain not allowed" in outsider.get_data(as_text=True)


@pytest.mark.parametrize(
    "address",
    ["anna@xn--zz.example", "anna@ab--cd.example", "anna@a\u200db.example", "anna@\u2615.example"],
    ids=["bad-a-label", "reserved-hyphens", "zero-width-joiner", "symbol"],
)
def test_an_address_whose_domain_is_not_valid_idna_is_refused_with_a_page(
    door: Door, database: Database, address: str
) -> None:
    before = members(database)
    refused = door.sign_in(address)
    assert refused.status_code == 400
    assert "E-mail address missing" in refused.get_data(as_text=True)
    assert members(database) == before
