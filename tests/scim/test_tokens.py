"""Bearer tokens: the CLI, hashing, revocation, 401s, and one organization never reaching
another's users (I7)."""

from __future__ import annotations

import json

from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.crypto import secret_digest
from app.db import Database
from app.models import ScimToken
from app.organizations import get_organization
from app.scim_tokens import TOKEN_PREFIX, authenticate, revoke_token
from tests.factories import OPERATOR, make_org
from tests.scim.conftest import Scim, issue_token, user
from tests.scim.test_users import assert_error


def test_cli_creates_lists_and_revokes(
    runner: FlaskCliRunner, client: FlaskClient, database: Database, org_id: int
) -> None:
    created = runner.invoke(args=["token", "create", "acme", "--label", "Okta production"])
    assert created.exit_code == 0, created.output
    described = json.loads(created.stdout)  # one document, secret included: `| jq .token`
    secret = described["token"]
    assert secret.startswith(TOKEN_PREFIX) and len(secret) > 40
    assert described["label"] == "Okta production" and described["revoked_at"] is None
    with database.unit_of_work(write=False) as session:
        stored = session.scalars(select(ScimToken.token_hash)).all()
    assert stored == [secret_digest(secret)] and secret not in stored

    scim = Scim(client, secret)
    assert scim.get("/Users").status_code == 200
    listed = json.loads(runner.invoke(args=["token", "list", "acme"]).output)
    assert [t["label"] for t in listed] == ["Okta production"]
    assert listed[0]["last_used_at"] is not None

    revoked = runner.invoke(args=["token", "revoke", "acme", str(described["id"])])
    assert revoked.exit_code == 0 and json.loads(revoked.output)["revoked_at"]
    assert_error(scim.get("/Users"), 401)


def test_cli_errors_go_to_stderr(runner: FlaskCliRunner, org_id: int) -> None:
    unknown_org = runner.invoke(args=["token", "create", "nope"])
    assert unknown_org.exit_code == 1 and "No organization" in unknown_org.output
    unknown_token = runner.invoke(args=["token", "revoke", "acme", "999"])
    assert unknown_token.exit_code == 1 and "No SCIM token 999" in unknown_token.output


def test_missing_malformed_and_unknown_tokens_get_401(client: FlaskClient, scim: Scim) -> None:
    for headers in [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN_PREFIX}not-a-real-token"},
        {"Authorization": "Bearer " + scim.token[:-1]},
    ]:
        for path in [
            "/scim/v2/Users",
            "/scim/v2/Users?filter=userName%20eq%20%22x%40acme.example.com%22",  # the probe
            "/scim/v2/Users?filter=not%20a%20filter",  # 401 before any complaint about it
            "/scim/v2/Users/00000000-0000-0000-0000-000000000000",
            "/scim/v2/Users/" + "x" * 80,  # could not be an id: still 401 first
            "/scim/v2/ServiceProviderConfig",
            "/scim/v2/nowhere",
        ]:
            response = client.get(path, headers=headers)
            assert_error(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert client.head(path, headers=headers).status_code == 401


def test_a_revoked_token_reads_nothing_at_once(
    client: FlaskClient, database: Database, scim: Scim, org_id: int
) -> None:
    """GET by id and the userName probe check the token in the statement that reads the
    user: a revocation applies to the very next request there too."""
    alice = scim.create("alice@acme.example.com")
    probe = {"filter": 'userName eq "alice@acme.example.com"'}
    assert scim.get(f"/Users/{alice['id']}").status_code == 200
    assert scim.get("/Users", **probe).get_json()["totalResults"] == 1
    with database.unit_of_work() as session:
        found = authenticate(database, scim.token)
        assert found is not None
        revoke_token(session, get_organization(session, "acme"), found.token_id, actor=OPERATOR)
    assert_error(scim.get(f"/Users/{alice['id']}"), 401)
    assert_error(scim.get("/Users", **probe), 401)


def test_authenticate_refuses_revoked_tokens(database: Database, org_id: int) -> None:
    secret = issue_token(database, "acme")
    with database.unit_of_work() as session:
        found = authenticate(database, secret)
        assert found is not None and found.organization_id == org_id
        token = session.get(ScimToken, found.token_id)
        assert token is not None
        revoke_token(session, get_organization(session, "acme"), token.id, actor=OPERATOR)
    assert authenticate(database, secret) is None
    assert authenticate(database, "") is None


def test_one_organization_cannot_reach_another(
    client: FlaskClient, database: Database, scim: Scim
) -> None:
    """I7: every path with globex's token misses acme's user, and changes nothing of it."""
    make_org(database, "globex", seats=5)
    globex = Scim(client, issue_token(database, "globex"))
    alice = scim.create("alice@acme.example.com", externalId="shared-ext")
    path = f"/Users/{alice['id']}"
    assert_error(globex.get(path), 404)
    assert_error(globex.put(path, user("alice@acme.example.com", active=False)), 404)
    assert_error(globex.patch(path, [{"op": "replace", "path": "active", "value": False}]), 404)
    assert_error(globex.delete(path), 404)
    assert globex.get("/Users").get_json()["totalResults"] == 0
    probe = globex.get("/Users", filter='userName eq "alice@acme.example.com"')
    assert probe.get_json()["totalResults"] == 0
    assert globex.get("/Users", filter='externalId eq "shared-ext"').get_json()["Resources"] == []
    same_name = globex.create("alice@acme.example.com")  # user names are unique per organization
    assert same_name["id"] != alice["id"]
    assert scim.get(path).get_json() == alice
