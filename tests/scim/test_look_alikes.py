"""Look-alike addresses over SCIM: creates, the providers' ``userName eq`` probe, the
waiting list and the domain allowlist all go by one identity key (``app.addresses``).

``ſam@`` (long s) and ``straße@`` are not ``sam@`` and ``strasse@``: neither the probe nor a
create may hand one the other's resource or member. ASCII case and canonical equivalence
(the Kelvin sign is ``K``) do not make another user; nor does spelling a domain in
Unicode or in punycode.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app import domains
from app.db import Database
from app.models import Member, WaitingEntry
from app.organizations import get_organization
from tests.factories import OPERATOR, add_users, make_org
from tests.scim.conftest import Scim, counts, issue_token, user

DOMAIN = "acme.example.com"
LOOK_ALIKES = pytest.mark.parametrize(
    ("existing", "look_alike"),
    [("sam", "\u017fam"), ("strasse", "straße")],
    ids=["long-s", "sharp-s"],
)


def probe(scim: Scim, user_name: str) -> list[dict[str, object]]:
    """The providers' match probe, URL-encoded as they send it: the users it finds."""
    expression = quote(f'userName eq "{user_name}"')
    response = scim.get(f"/Users?filter={expression}&startIndex=1&count=100")
    assert response.status_code == 200, response.get_json()
    found: list[dict[str, object]] = response.get_json()["Resources"]
    return found


def member_of(database: Database, email: str) -> int:
    with database.unit_of_work(write=False) as session:
        member_id = session.scalar(select(Member.id).where(Member.email == email))
    assert member_id is not None, email
    return member_id


@LOOK_ALIKES
def test_a_look_alike_is_created_as_another_user_and_member(
    scim: Scim, database: Database, existing: str, look_alike: str
) -> None:
    first = scim.create(f"{existing}@{DOMAIN}", emails=[{"value": f"{existing}@{DOMAIN}"}])
    assert probe(scim, f"{look_alike}@{DOMAIN}") == []
    second = scim.create(f"{look_alike}@{DOMAIN}", emails=[{"value": f"{look_alike}@{DOMAIN}"}])
    assert second["id"] != first["id"]
    assert member_of(database, f"{existing}@{DOMAIN}") != member_of(
        database, f"{look_alike}@{DOMAIN}"
    )
    [found] = probe(scim, f"{look_alike}@{DOMAIN}")
    assert found["id"] == second["id"]
    [found] = probe(scim, f"{existing.upper()}@{DOMAIN.upper()}")
    assert found["id"] == first["id"]


@LOOK_ALIKES
def test_a_look_alike_never_takes_over_a_member_the_operator_added(
    scim: Scim, database: Database, existing: str, look_alike: str
) -> None:
    """A create takes over a member that already has its e-mail; never a look-alike's."""
    [added] = add_users(database, "acme", [f"{existing}@{DOMAIN}"])
    created = scim.create(f"{look_alike}@{DOMAIN}")
    assert member_of(database, f"{look_alike}@{DOMAIN}") != added
    with database.unit_of_work(write=False) as session:
        untouched = session.get_one(Member, added)
        assert untouched.email == f"{existing}@{DOMAIN}" and untouched.external_id is None
    assert created["userName"] == f"{look_alike}@{DOMAIN}"


def test_the_kelvin_sign_is_the_same_user_name_as_k(scim: Scim) -> None:
    kate = scim.create(f"kate@{DOMAIN}")
    [found] = probe(scim, f"\u212aate@{DOMAIN}")
    assert found["id"] == kate["id"]
    again = scim.post("/Users", user(f"\u212aate@{DOMAIN}"))
    assert again.status_code == 409 and again.get_json()["scimType"] == "uniqueness"


def test_a_unicode_and_a_punycode_domain_are_one_user_name(scim: Scim) -> None:
    anna = scim.create("anna@bücher.example")
    [found] = probe(scim, "ANNA@xn--bcher-kva.example")
    assert found["id"] == anna["id"]
    again = scim.post("/Users", user("anna@XN--BCHER-KVA.example"))
    assert again.status_code == 409 and again.get_json()["scimType"] == "uniqueness"


@pytest.mark.parametrize(
    ("listed", "provisioned"),
    [
        ("bücher.example", "anna@xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "anna@BÜCHER.example"),
    ],
    ids=["unicode-listed", "punycode-listed"],
)
def test_an_internationalized_domain_on_the_allowlist_admits_its_users(
    scim: Scim, database: Database, org_id: int, listed: str, provisioned: str
) -> None:
    with database.unit_of_work() as session:
        domains.add_domain(session, get_organization(session, "acme"), listed, actor=OPERATOR)
    created = scim.post("/Users", user(provisioned))
    assert created.status_code == 201, created.get_json()
    assert member_of(database, "anna@bücher.example")
    before = counts(database, org_id)
    refused = scim.post("/Users", user("anna@buecher.example"))
    assert refused.status_code == 400 and refused.get_json()["scimType"] == "invalidValue"
    assert counts(database, org_id) == before


@pytest.mark.parametrize(
    "address",
    ["anna@xn--zz.example", "anna@ab--cd.example", "anna@a\u200db.example", "anna@\u2615.example"],
    ids=["bad-a-label", "reserved-hyphens", "zero-width-joiner", "symbol"],
)
def test_an_e_mail_whose_domain_is_not_valid_idna_is_refused(
    scim: Scim, database: Database, org_id: int, address: str
) -> None:
    before = counts(database, org_id)
    body = user("anna@acme.example.com", emails=[{"value": address, "primary": True}])
    refused = scim.post("/Users", body)
    assert refused.status_code == 400, refused.get_json()
    error = refused.get_json()
    assert error["scimType"] == "invalidValue"
    assert "emails" in error["detail"] and "domain" in error["detail"]
    assert counts(database, org_id) == before
    anna = scim.create("anna@acme.example.com")  # and a replace is refused the same way
    replaced = scim.put(f"/Users/{anna['id']}", body)
    assert replaced.status_code == 400 and replaced.get_json()["scimType"] == "invalidValue"


@pytest.mark.parametrize("user_name", ["jdoe@xn--zz.example", "jdoe@host_name"])
def test_a_user_name_that_is_no_address_still_works(scim: Scim, user_name: str) -> None:
    """A userName is an identifier, not necessarily an address: one whose part after the @
    is no domain name keeps working, compared with ASCII case ignored."""
    created = scim.create(user_name)
    [found] = probe(scim, user_name.upper())
    assert found["id"] == created["id"]


@LOOK_ALIKES
def test_refused_look_alikes_wait_as_two_people(
    client: FlaskClient, database: Database, existing: str, look_alike: str
) -> None:
    make_org(database, "tiny", seats=1)
    scim = Scim(client, issue_token(database, "tiny"))
    assert scim.post("/Users", user(f"first@{DOMAIN}")).status_code == 201
    for name in (existing, look_alike):
        assert scim.post("/Users", user(f"{name}@{DOMAIN}")).status_code == 403
    with database.unit_of_work(write=False) as session:
        waiting = session.scalars(select(WaitingEntry.email).order_by(WaitingEntry.id)).all()
    assert waiting == [f"{existing}@{DOMAIN}", f"{look_alike}@{DOMAIN}"]


@pytest.mark.parametrize(
    "user_name",
    ["\u0958" * 320, "a" * 308 + "@\u00fc.example"],
    ids=["composition-excluded", "idn-domain"],
)
def test_a_user_name_whose_key_outgrows_the_column_is_refused(
    scim: Scim, database: Database, org_id: int, user_name: str
) -> None:
    """The key of a 320-character userName can be longer than 320 characters (NFC and
    IDNA may lengthen it); such a userName is refused, on both engines, never a 500."""
    before = counts(database, org_id)
    refused = scim.post("/Users", user(user_name))
    assert refused.status_code == 400, refused.get_json()
    assert refused.get_json()["scimType"] == "invalidValue"
    assert "userName" in refused.get_json()["detail"]
    assert counts(database, org_id) == before
    assert probe(scim, user_name) == []


def test_a_user_name_of_ligatures_fits_its_key(scim: Scim) -> None:
    """Case folding made 320 ``ﬃ`` a 960-character key (a 500 on PostgreSQL); the identity
    key keeps compatibility characters as they are."""
    created = scim.create("\ufb03" * 320)
    [found] = probe(scim, "\ufb03" * 320)
    assert found["id"] == created["id"]
    assert probe(scim, "ffi" * 320) == []


@LOOK_ALIKES
def test_an_emails_filter_never_finds_a_look_alike(
    scim: Scim, existing: str, look_alike: str
) -> None:
    """Entra ID can match users on ``emails[type eq "work"].value`` instead of userName."""
    address = f"{existing}@{DOMAIN}"
    created = scim.create(address, emails=[{"value": address, "type": "work"}])
    for expression in (
        f'emails.value eq "{look_alike}@{DOMAIN}"',
        f'emails[type eq "work" and value eq "{look_alike}@{DOMAIN}"]',
    ):
        found = scim.get("/Users", filter=expression).get_json()
        assert found["totalResults"] == 0, expression
    found = scim.get("/Users", filter=f'emails.value eq "{address.upper()}"').get_json()
    assert [user["id"] for user in found["Resources"]] == [created["id"]]


def test_user_name_substring_filters_compare_with_the_key(scim: Scim) -> None:
    anna = scim.create("Anna@xn--bcher-kva.example")
    sam = scim.create(f"sam@{DOMAIN}")
    for expression, expected in (
        ('userName ew "@BÜCHER.example"', [anna["id"]]),
        ('userName sw "ANNA@"', [anna["id"]]),
        ('userName co "xn--bcher"', [anna["id"]]),
        ('userName sw "\u017f"', []),
        ('userName co "SAM"', [sam["id"]]),
        ('userName eq "\u017fam@acme.example.com"', []),
        ('not (userName eq "SAM@acme.example.com")', [anna["id"]]),
    ):
        found = scim.get("/Users", filter=expression).get_json()
        assert sorted(u["id"] for u in found["Resources"]) == sorted(expected), expression
