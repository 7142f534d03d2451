"""The billing JSON API: same rules as the pages (R5, R6, R8, R9, I6, I7), bearer sessions."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.db import Database
from app.proration import months_remaining
from tests.app.conftest import ADMIN, OWNER, PRIMARY, TERM_START, TODAY, USER, session_token
from tests.factories import make_org


def bearer(app: Flask, database: Database, email: str, slug: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(app, database, email, slug)}"}


def test_owners_read_seats(app: Flask, acme: int, client: FlaskClient, database: Database) -> None:
    body = client.get("/api/v1/orgs/acme/seats", headers=bearer(app, database, OWNER)).get_json()
    assert (body["purchased"], body["assigned"], body["free"]) == (10, 1, 9)
    assert body["contract"]["seat_price"] == "30.00" and body["can_purchase"] is False
    assert body["renewal"] == {"on": body["term_end"], "seats": 1}


def test_quote_then_purchase_with_an_idempotency_key(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    headers = bearer(app, database, PRIMARY)
    months = months_remaining(TERM_START, TODAY)
    quote = client.post("/api/v1/orgs/acme/seats/quote", json={"quantity": 5}, headers=headers)
    assert quote.status_code == 200
    assert quote.get_json()["total_minor"] == 5 * 3000 * months
    buy = {**headers, "Idempotency-Key": "order-1"}
    first = client.post("/api/v1/orgs/acme/seats/purchase", json={"quantity": 5}, headers=buy)
    assert first.status_code == 201 and first.headers["Idempotent-Replayed"] == "false"
    again = client.post("/api/v1/orgs/acme/seats/purchase", json={"quantity": 5}, headers=buy)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    listed = client.get("/api/v1/orgs/acme/invoices", headers=headers).get_json()["invoices"]
    assert [i["number"] for i in listed] == ["ACME-00001"]
    one = client.get(f"/api/v1/orgs/acme/invoices/{listed[0]['id']}", headers=headers).get_json()
    [line] = one["lines"]
    assert (line["quantity"], line["unit_price"], line["months"]) == (5, "30.00", months)
    assert client.get("/api/v1/orgs/acme/seats", headers=headers).get_json()["purchased"] == 15
    conflict = client.post("/api/v1/orgs/acme/seats/purchase", json={"quantity": 6}, headers=buy)
    assert conflict.status_code == 409 and conflict.get_json()["error"] == "idempotency_conflict"


@pytest.mark.parametrize(
    ("body", "key"),
    [({"quantity": 5}, None), ({"quantity": 0}, "k"), ({"quantity": "5"}, "k"), ({}, "k"),
     ({"quantity": 5, "extra": 1}, "k"), ([5], "k")],
)  # fmt: skip
def test_bad_purchases_are_400_and_buy_nothing(
    app: Flask, acme: int, client: FlaskClient, database: Database, body: object, key: str | None
) -> None:
    headers = bearer(app, database, PRIMARY) | ({"Idempotency-Key": key} if key else {})
    response = client.post("/api/v1/orgs/acme/seats/purchase", json=body, headers=headers)
    assert response.status_code == 400
    assert client.get("/api/v1/orgs/acme/seats", headers=headers).get_json()["purchased"] == 10


def test_an_owner_cannot_buy(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    headers = {**bearer(app, database, OWNER), "Idempotency-Key": "k"}
    response = client.post(
        "/api/v1/orgs/acme/seats/purchase", json={"quantity": 1}, headers=headers
    )
    assert response.status_code == 403
    assert client.get("/api/v1/orgs/acme/seats", headers=headers).get_json()["purchased"] == 10


@pytest.mark.parametrize("email", [ADMIN, USER])
@pytest.mark.parametrize("path", ["/seats", "/invoices", "/members", "/alerts", "/invoices/1"])
def test_admins_and_users_find_nothing(
    app: Flask, acme: int, client: FlaskClient, database: Database, email: str, path: str
) -> None:
    response = client.get(f"/api/v1/orgs/acme{path}", headers=bearer(app, database, email))
    assert response.status_code == 404


def test_no_token_is_401(acme: int, client: FlaskClient) -> None:
    response = client.get("/api/v1/orgs/acme/seats")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = client.get("/api/v1/orgs/acme/seats", headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401


def test_one_organizations_session_never_reads_another(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    make_org(database, "globex", seats=3, term_start=TERM_START)
    headers = bearer(app, database, "owner@globex.example.com", "globex")
    assert client.get("/api/v1/orgs/acme/seats", headers=headers).status_code == 404
    assert client.get("/api/v1/orgs/globex/seats", headers=headers).status_code == 200


def test_members_listing(app: Flask, acme: int, client: FlaskClient, database: Database) -> None:
    body = client.get("/api/v1/orgs/acme/members", headers=bearer(app, database, OWNER)).get_json()
    roles = {m["email"]: (m["role"], m["seat"]) for m in body["members"]}
    assert roles[OWNER] == ("owner", True) and roles[USER] == ("user", False)


def test_openapi_describes_every_api_route(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    described = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    served = {
        (rule.rule.removeprefix("/api/v1").replace("<slug>", "{slug}")
         .replace("<int:invoice_id>", "{invoice_id}"), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/orgs")
        for method in rule.methods or ()
        if method in {"GET", "POST"}
    }  # fmt: skip
    assert served == described


def test_a_deeply_nested_body_is_a_400_and_buys_nothing(
    app: Flask, acme: int, client: FlaskClient, database: Database
) -> None:
    """Issue 19: 100,000 nested ``[`` raised RecursionError while the body was read (a 500)."""
    headers = bearer(app, database, PRIMARY) | {"Idempotency-Key": "deep"}
    deep = "[" * 100_000 + "]" * 100_000
    bodies = [deep, "[" * 100_000, '{"quantity": ' + "[" * 40 + "5" + "]" * 40 + "}"]
    for body in bodies:
        for action in ("quote", "purchase"):
            response = client.post(
                f"/api/v1/orgs/acme/seats/{action}",
                data=body,
                content_type="application/json",
                headers=headers,
            )
            assert response.status_code == 400, (action, body[:20])
            assert response.get_json()["error"] == "invalid_input"
    seats = client.get("/api/v1/orgs/acme/seats", headers=headers).get_json()
    assert seats["purchased"] == 10
