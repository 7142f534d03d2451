"""The floor peer does the database work it stands for, so `bench.floors` measures that work.

A floor that answered without reading the user, or committed fewer rows than it claims,
would make the floors look cheaper than the work seatgate cannot avoid.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from app.db import Database
from bench import dataset, load
from bench.peers import floor

pytestmark = pytest.mark.postgresql_only  # the floors are PostgreSQL's (bench.floors)


@pytest.fixture
def floor_client(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlaskClient]:
    monkeypatch.setenv("FLOOR_DATABASE_URL", database_url)
    floor.create_table(database_url)
    yield floor.application.test_client()
    floor.release()
    with floor.connect(database_url) as connection:
        connection.execute(f"DROP TABLE {floor.FLOOR_TABLE}")


def test_the_get_floor_reads_the_user_with_the_token_in_one_statement(
    floor_client: FlaskClient, database: Database
) -> None:
    organization = load.create_bench_organization(database, "floor", seats=1)
    load.load_users(database, organization, 2)
    token = {"Authorization": f"Bearer {organization.scim_token}"}

    assert floor_client.get(f"/Users/{dataset.resource_id(1)}", headers=token).status_code == 200
    unknown_user = floor_client.get(f"/Users/{dataset.resource_id(2)}", headers=token)
    assert unknown_user.status_code == 404
    wrong_token = {"Authorization": f"Bearer {organization.scim_token}x"}
    assert (
        floor_client.get(f"/Users/{dataset.resource_id(1)}", headers=wrong_token).status_code == 401
    )
    assert floor_client.get(f"/Users/{dataset.resource_id(1)}").status_code == 401


@pytest.mark.parametrize(("statements", "mode"), [(1, "plain"), (3, "plain"), (9, "pipelined")])
def test_the_post_floor_commits_as_many_rows_as_statements(
    floor_client: FlaskClient, database_url: str, statements: int, mode: str
) -> None:
    created = floor_client.post(f"/floor/{statements}/{mode}/Users", json=dataset.scim_user(7))

    assert created.status_code == 201
    with floor.connect(database_url) as reader:  # another connection: only committed rows show
        written = reader.execute(
            f"SELECT count(*), count(DISTINCT resource_id), min(user_name) FROM {floor.FLOOR_TABLE}"
        ).fetchone()
    assert written == (statements, statements, dataset.user_name(7))


@pytest.mark.parametrize("path", ["/floor/0/plain/Users", "/floor/2/batched/Users"])
def test_the_post_floor_refuses_what_it_does_not_measure(
    floor_client: FlaskClient, database_url: str, path: str
) -> None:
    assert floor_client.post(path, json=dataset.scim_user(7)).status_code == 404
    with floor.connect(database_url) as reader:
        assert reader.execute(f"SELECT count(*) FROM {floor.FLOOR_TABLE}").fetchone() == (0,)
