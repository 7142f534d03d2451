"""Profile one scenario in-process with pyinstrument: where does a request's time go?

``python -m bench.profile get|filter|page|post|acs [--users N] [--requests N] [--engine URL]``
loads a fresh organization (SQLite by default), sends the requests through Flask's test
client (no HTTP, no gunicorn: only seatgate's own work) and prints the call tree.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from pyinstrument import Profiler

from app import create_app, database_of
from app.migrations_runner import upgrade_database
from bench import dataset, load
from bench import saml as bench_saml

BASE_URL = "http://127.0.0.1:18080"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("scenario", choices=["get", "filter", "page", "post", "acs"])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/profile.sqlite3"
        upgrade_database(url)
        app = create_app(
            {
                "env": "production",
                "secret_key": "p" * 40,
                "base_url": BASE_URL,
                "database": {"url": url},
                "log_level": "WARNING",
                "alerts": {"deliver_in_background": False},
            }
        )
        database = database_of(app)
        organization = load.create_bench_organization(database, "bench", seats=10)
        load.load_users(database, organization, args.users)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {organization.scim_token}"}
        requests = _requests(args, database, Path(tmp), headers)
        for call in requests[:20]:  # warm up: first-request costs are not the steady state
            call(client)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for call in requests[20:]:
            call(client)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))


def _requests(args: argparse.Namespace, database, workdir: Path, headers):  # type: ignore[no-untyped-def]
    n = args.requests + 20

    def check(response, status: int) -> None:  # type: ignore[no-untyped-def]
        if response.status_code != status:
            raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)[:500]}")

    pick = [random.randrange(args.users) for _ in range(n)]
    if args.scenario == "get":
        return [
            lambda c, i=i: check(
                c.get(f"/scim/v2/Users/{dataset.resource_id(i)}", headers=headers), 200
            )
            for i in pick
        ]
    if args.scenario == "filter":
        return [
            lambda c, i=i: check(
                c.get(
                    "/scim/v2/Users",
                    query_string={"filter": f'userName eq "{dataset.user_name(i)}"'},
                    headers=headers,
                ),
                200,
            )
            for i in pick
        ]
    if args.scenario == "page":
        return [
            lambda c, i=i: check(
                c.get(
                    "/scim/v2/Users",
                    query_string={"startIndex": i + 1, "count": 100},
                    headers=headers,
                ),
                200,
            )
            for i in pick
        ]
    if args.scenario == "post":

        def post(c, i: int) -> None:  # type: ignore[no-untyped-def]
            body = dataset.scim_user(i)
            body["userName"] = body["emails"][0]["value"] = f"p{i}@profile.example.com"
            check(
                c.post(
                    "/scim/v2/Users",
                    data=json.dumps(body),
                    headers={**headers, "Content-Type": "application/scim+json"},
                ),
                201,
            )

        return [lambda c, i=i: post(c, i) for i in range(n)]
    keys = bench_saml.new_keys(workdir)
    metadata, _settings = bench_saml.configure_idp(
        database, "bench", base_url=BASE_URL, secret_key="p" * 40, keys=keys
    )
    responses = bench_saml.make_responses(
        keys,
        metadata,
        base_url=BASE_URL,
        slug="bench",
        emails=[dataset.user_name(i) for i in pick],
        workers=2,
    )
    return [
        lambda c, r=r: check(c.post("/sso/bench/acs", data={"SAMLResponse": r}), 303)
        for r in responses
    ]


if __name__ == "__main__":
    main()
