"""Numbers people type, and JSON nested too deep, in every numeric field of every form and
of the JSON API (issue 19): never a 5xx, always the protocol's own error form, nothing
bought by what is not a number, and the seat and billing invariants hold afterwards.

The schema-driven fuzzer (``test_api_fuzz``) sends what the OpenAPI document allows; these
send what people and broken clients actually send: digits of other scripts (Unicode Nd,
No), integers past 32 and 64 bits, numbers as text, floats, booleans, 100,000 brackets.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import lxml.html
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import settings_of
from tests.fuzz.conftest import (
    EXAMPLES,
    SENT,
    Tenants,
    assert_invariants,
    deep_json,
    describe,
    json_numbers,
    no_leak,
    number_texts,
)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Request = tuple[str, str, dict[str, str], dict[str, str]]  # method, path, query, form


def signed_in_browser(tenants: Tenants) -> tuple[FlaskClient, str]:
    """acme's Primary Owner in a browser, and a CSRF token its forms carry."""
    client = tenants.app.test_client()
    client.set_cookie(settings_of(tenants.app).sso.cookie_name, tenants.acme.api_token)
    page = client.get("/settings/billing/alerts", headers={"Accept": "text/html"})
    assert page.status_code == 200, describe(page)
    tokens = lxml.html.fromstring(page.get_data(as_text=True)).xpath(
        "//input[@name='csrf_token']/@value"
    )
    return client, str(tokens[0])


@st.composite
def form_requests(draw: st.DrawFn) -> Request:
    """One numeric field (or several) of one of the pages' forms or filters."""
    n = number_texts
    kind = draw(st.sampled_from(["review", "buy", "policy", "unhook", "edit", "logs", "invoice"]))
    if kind == "review":
        return "POST", "/settings/billing/seats/review", {}, {"seats": draw(n)}
    if kind == "buy":
        form = {"quantity": draw(n), "expected_total_minor": draw(n), "idempotency_key": "fuzz"}
        return "POST", "/settings/billing/seats", {}, form
    if kind == "policy":
        percents = ", ".join(draw(st.lists(n, min_size=1, max_size=4)))
        form = {"percents": percents, "seats_left": draw(n), "digest_minutes": draw(n)}
        return "POST", "/settings/billing/alerts", {}, {"action": "policy", **form}
    if kind == "unhook":
        form = {"action": "remove_webhook", "webhook_id": draw(n)}
        return "POST", "/settings/billing/alerts", {}, form
    if kind == "edit":
        return "GET", "/settings/billing/seats/edit", {"seats": draw(n)}, {}
    if kind == "logs":
        path = draw(st.sampled_from(["/settings/logs/sign-ins", "/settings/logs/scim"]))
        query = draw(st.dictionaries(st.sampled_from(["limit", "status", "before"]), n))
        return "GET", path, query, {}
    return "GET", f"/settings/billing/invoices/{quote(draw(n), safe='')}", {}, {}


def test_numbers_people_type_on_every_form(tenants: Tenants) -> None:
    client, token = signed_in_browser(tenants)

    @FUZZ
    @given(form_requests())
    def one_request(request: Request) -> None:
        method, path, query, form = request
        data = {**form, "csrf_token": token} if method == "POST" else None
        reply = client.open(
            path, method=method, query_string=query, data=data, headers={"Accept": "text/html"}
        )
        SENT["forms"] += 1
        assert reply.status_code < 500, describe(reply)
        assert reply.mimetype == "text/html", describe(reply)
        assert no_leak(reply.get_data(as_text=True)), describe(reply)
        if method == "POST" and reply.status_code == 400:  # the form again, saying why
            page = lxml.html.fromstring(reply.get_data(as_text=True))
            assert page.get_element_by_id("form-error") is not None, describe(reply)

    one_request()
    assert_invariants(tenants.database)


@st.composite
def api_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], str | None]:
    """(method, path, query, raw JSON body) with a number-like value in a numeric field."""
    base = "/api/v1/orgs/acme"
    kind = draw(st.sampled_from(["alerts", "logs", "invoice", "quote", "buy", "deep"]))
    if kind == "alerts":
        return "GET", f"{base}/alerts", {"limit": draw(number_texts)}, None
    if kind == "logs":
        path = draw(st.sampled_from([f"{base}/logs/sign-ins", f"{base}/logs/scim"]))
        keys = st.sampled_from(["limit", "status", "before"])
        return "GET", path, draw(st.dictionaries(keys, number_texts)), None
    if kind == "invoice":
        return "GET", f"{base}/invoices/{quote(draw(number_texts), safe='')}", {}, None
    path = draw(st.sampled_from([f"{base}/seats/quote", f"{base}/seats/purchase"]))
    if kind == "deep":
        return "POST", path, {}, draw(deep_json())
    body: Any = {"quantity": draw(json_numbers)}
    return "POST", path, {}, json.dumps(body)


def test_numbers_people_type_in_every_api_field(tenants: Tenants) -> None:
    client = tenants.app.test_client()
    headers = {"Authorization": f"Bearer {tenants.acme.api_token}", "Idempotency-Key": "fuzz"}

    @FUZZ
    @given(api_requests())
    def one_request(request: tuple[str, str, dict[str, str], str | None]) -> None:
        method, path, query, body = request
        reply = client.open(
            path,
            method=method,
            query_string=query,
            data=body,
            content_type="application/json" if body is not None else None,
            headers=headers,
        )
        SENT["json_api"] += 1
        assert reply.status_code < 500, describe(reply)
        assert no_leak(reply.get_data(as_text=True)), describe(reply)
        if reply.status_code >= 400:
            assert "error" in reply.get_json(), describe(reply)

    one_request()
    assert_invariants(tenants.database)
