"""The words of alerts: who was refused and where, escaped HTML, Slack text."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.alerts.messages import render
from app.db import Database
from app.errors import NoFreeSeat
from app.ledger import Actor, claim_seat
from app.models import Alert, Member, Source
from tests.factories import add_users, at, make_org, seat_members

NOW = at("2026-06-01")


def test_a_digest_says_how_many_were_refused_where(database: Database) -> None:
    make_org(database, seats=1)
    seat_members(database, add_users(database, "acme", ["in@acme.example.com"]), when=NOW)
    scim_user, sso_user = add_users(database, "acme", ["p@acme.example.com", "s@acme.example.com"])
    for member_id, source in (
        (scim_user, Source.SCIM),
        (sso_user, Source.SSO),
        (sso_user, Source.SSO),
    ):
        with pytest.raises(NoFreeSeat), database.unit_of_work() as session:
            member = session.get(Member, member_id)
            assert member is not None
            claim_seat(session, member, actor=Actor("idp", source, "req-1"), now=NOW)
    with database.unit_of_work(write=False) as session:
        digest = session.scalars(select(Alert).where(Alert.kind == "seats_refused")).one()
    rendered = render(digest, "Acme", "https://seatgate.example.com/")
    assert rendered.subject == "[Acme] Refused for lack of a seat: 2 people"
    assert (
        "3 requests were refused because no seat could be given "
        "(1 at SCIM provisioning, 2 at SSO sign-in)." in rendered.text
    )
    assert "- p@acme.example.com\n- s@acme.example.com" in rendered.text
    assert rendered.billing_url == "https://seatgate.example.com/settings/billing"


def test_html_is_escaped_and_slack_text_leads_with_the_subject(database: Database) -> None:
    make_org(database, seats=1)
    seat_members(database, add_users(database, "acme", ["in@acme.example.com"]), when=NOW)
    [odd] = add_users(database, "acme", ["o'brien&co@acme.example.com"])
    with pytest.raises(NoFreeSeat):
        seat_members(database, [odd], when=NOW)
    with database.unit_of_work(write=False) as session:
        digest = session.scalars(select(Alert).where(Alert.kind == "seats_refused")).one()
    rendered = render(digest, "Acme", "https://seatgate.example.com")
    assert "- o&#x27;brien&amp;co@acme.example.com" in rendered.html
    assert "o'brien&co" not in rendered.html
    assert '<a href="https://seatgate.example.com/settings/billing">' in rendered.html
    assert rendered.slack_text.startswith("*[Acme] Refused for lack of a seat: 1 person*\n")
