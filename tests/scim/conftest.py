"""SCIM fixtures: an organization, a bearer token for it, and a client that sends it."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from app import create_app, database_of
from app.db import Database
from app.ledger import seat_usage
from app.models import (
    AuditEntry,
    DirectoryUser,
    DirectoryValue,
    Member,
    SeatAssignment,
    SeatEvent,
)
from app.organizations import get_organization
from app.scim_tokens import create_token
from tests.factories import OPERATOR, make_org

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BASE = "/scim/v2"


def issue_token(database: Database, slug: str) -> str:
    with database.unit_of_work() as session:
        return create_token(
            session, get_organization(session, slug), label="test", actor=OPERATOR
        ).secret


@dataclass
class Scim:
    """A SCIM client bound to one organization's token."""

    client: FlaskClient
    token: str

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **query: Any,
    ) -> TestResponse:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        kwargs: dict[str, Any] = {"headers": sent, "query_string": query or None}
        if body is not None:
            kwargs["json"] = body
            kwargs["content_type"] = "application/scim+json"
        return self.client.open(BASE + path, method=method, **kwargs)

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.request("GET", path, **query)

    def post(self, path: str, body: Any, **query: Any) -> TestResponse:
        return self.request("POST", path, body, **query)

    def put(self, path: str, body: Any, **query: Any) -> TestResponse:
        return self.request("PUT", path, body, **query)

    def patch(self, path: str, operations: list[dict[str, Any]], **query: Any) -> TestResponse:
        return self.request("PATCH", path, {"schemas": [PATCH_OP], "Operations": operations})

    def delete(self, path: str) -> TestResponse:
        return self.request("DELETE", path)

    def create(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        response = self.post("/Users", {"schemas": [CORE], "userName": user_name, **attributes})
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body


@pytest.fixture
def org_id(database: Database) -> int:
    return make_org(database, "acme", seats=20)


@pytest.fixture
def scim(client: FlaskClient, database: Database, org_id: int) -> Scim:
    return Scim(client, issue_token(database, "acme"))


def user(email: str, **attributes: Any) -> dict[str, Any]:
    """A typical identity-provider body for ``email``."""
    given, _, family = email.partition("@")[0].partition(".")
    return {
        "schemas": [CORE],
        "userName": email,
        "name": {"givenName": given.title(), "familyName": family.title() or "Doe"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
        **attributes,
    }


def seats(database: Database, org_id: int) -> tuple[int, int]:
    with database.unit_of_work(write=False) as session:
        usage = seat_usage(session, org_id)
        return usage.purchased, usage.assigned


def counts(database: Database, org_id: int) -> dict[str, int]:
    """Rows a request could have written: directory users and their values, members, seat
    assignments, audit entries, seat events by kind."""
    with database.unit_of_work(write=False) as session:
        result = {
            "directory_users": session.scalar(
                select(func.count()).where(DirectoryUser.organization_id == org_id)
            )
            or 0,
            "directory_values": session.scalar(
                select(func.count())
                .select_from(DirectoryValue)
                .join(Member, Member.id == DirectoryValue.member_id)
                .where(Member.organization_id == org_id)
            )
            or 0,
            "members": session.scalar(select(func.count()).where(Member.organization_id == org_id))
            or 0,
            "seat_assignments": session.scalar(
                select(func.count()).where(SeatAssignment.organization_id == org_id)
            )
            or 0,
            "audit_log": session.scalar(
                select(func.count()).where(AuditEntry.organization_id == org_id)
            )
            or 0,
        }
        for kind, number in session.execute(
            select(SeatEvent.kind, func.count())
            .where(SeatEvent.organization_id == org_id)
            .group_by(SeatEvent.kind)
        ):
            result[f"events.{kind}"] = number
        return result


class _LateApp:
    """Lets the server pick its port before the app (whose base_url names it) exists."""

    wsgi: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.wsgi(environ, start_response)


@dataclass
class LiveServer:
    url: str
    database: Database

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        """One real HTTP request; returns the status and the decoded JSON body (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return status, json.loads(raw) if raw else None


@pytest.fixture
def live(database_url: str) -> Iterator[LiveServer]:
    """seatgate served over real HTTP on 127.0.0.1 (ephemeral port), threaded, on each engine."""
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    flask_app = create_app({"env": "test", "base_url": base, "database": {"url": database_url}})
    late.wsgi = flask_app
    database = database_of(flask_app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"{base}/scim/v2", database)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        database.dispose()
