"""The bench loader writes users exactly as SCIM provisioning would, with consistent seats."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from app.db import Database
from app.ledger import recount, seat_usage
from bench import dataset, load


def _as_user(document: dict[str, Any], source: int, target: int) -> dict[str, Any]:
    """User ``source``'s resource with user ``target``'s names, without id and meta."""
    text = json.dumps({k: v for k, v in document.items() if k not in {"id", "meta"}})
    for field in (dataset.user_name, dataset.given_name, dataset.family_name):
        text = text.replace(field(source), field(target))
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_loaded_users_match_provisioned_ones_and_seats_recount(
    database: Database, client: FlaskClient
) -> None:
    organization = load.create_bench_organization(database, "bench", seats=2)
    load.load_users(database, organization, 3)
    load.load_users(database, organization, 5, start=3)
    headers = {"Authorization": f"Bearer {organization.scim_token}"}

    created = client.post(
        "/scim/v2/Users",
        json=dataset.scim_user(5),
        headers=headers,
        content_type="application/scim+json",
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    loaded = client.get(f"/scim/v2/Users/{dataset.resource_id(4)}", headers=headers)
    assert loaded.status_code == 200
    assert _as_user(loaded.get_json(), 4, 4) == _as_user(created.get_json(), 5, 4)

    probe = client.get(
        "/scim/v2/Users",
        query_string={"filter": f'userName eq "{dataset.user_name(2).upper()}"'},
        headers=headers,
    )
    assert [r["id"] for r in probe.get_json()["Resources"]] == [dataset.resource_id(2)]
    with database.unit_of_work(write=False) as session:
        usage = seat_usage(session, organization.organization_id)
        assert usage.assigned == 6  # five loaded, one provisioned
        assert usage.purchased - usage.assigned >= load.HEADROOM - 1
        assert recount(session, organization.organization_id).consistent
