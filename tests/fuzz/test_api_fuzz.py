"""Schemathesis against /api/v1/openapi.json: never a 5xx, another organization is 404, and
the seat and billing invariants hold afterwards."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet
from sqlalchemy import text

from tests.fuzz.conftest import EXAMPLES, SENT, Tenants, assert_invariants, describe, no_leak


def test_generated_api_requests(tenants: Tenants) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", tenants.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    client = tenants.app.test_client()
    per_operation = max(EXAMPLES // len(operations), 10)

    for operation in operations:

        @settings(
            max_examples=per_operation,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), target=st.sampled_from(["acme", "globex", "other"]))
        def one_request(case: Any, target: str) -> None:
            if "slug" in (case.path_parameters or {}) and target != "other":
                case.path_parameters["slug"] = target
            headers = {k: str(v) for k, v in (case.headers or {}).items()}
            headers["Authorization"] = f"Bearer {tenants.acme.api_token}"
            body = None if isinstance(case.body, NotSet) else case.body
            reply = client.open(
                "/api/v1" + case.formatted_path,
                method=case.method,
                query_string=case.query or {},
                json=body,
                headers=headers,
            )
            SENT["json_api"] += 1
            assert reply.status_code < 500, describe(reply)
            assert no_leak(reply.get_data(as_text=True)), describe(reply)
            if reply.status_code >= 400:
                assert "error" in reply.get_json(), describe(reply)
            if target == "globex":
                assert reply.status_code == 404, describe(reply)  # I7

        one_request()
    assert_invariants(tenants.database)
    with tenants.database.unit_of_work(write=False) as session:
        # I6: an idempotency key never bought twice.
        assert not session.scalar(
            text(
                "SELECT count(*) FROM (SELECT organization_id, idempotency_key FROM seat_events "
                "WHERE idempotency_key IS NOT NULL AND kind = 'purchase' "
                "GROUP BY organization_id, idempotency_key HAVING count(*) > 1) AS repeated"
            )
        )
