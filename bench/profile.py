"""Profile one scenario in-process with pyinstrument: where does a request's time go?

``python -m bench.profile get|filter|page|post|acs [--users N] [--requests N]
[--database-url URL]`` loads a fresh organization (SQLite by default), sends the requests
through Flask's test client (no HTTP, no gunicorn: only seatgate's own work) and prints the
call tree (or, with ``--cpu``, the CPU time per request, to compare two versions).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import time
from collections.abc import Callable
from urllib.parse import urlencode

from flask.testing import FlaskClient
from pyinstrument import Profiler
from werkzeug.test import TestResponse

from bench import dataset
from bench.in_process import Loaded, loaded_seatgate

WARM_UP = 20  # first requests pay one-time costs (imports, caches): not the steady state

Call = Callable[[FlaskClient], None]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("scenario", choices=["get", "filter", "page", "post", "acs"])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="no profiler: print the CPU time per request (steady under a loaded machine)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="seatgate's log level (INFO, as served: one access line per request on stderr)",
    )
    parser.add_argument(
        "--functions",
        choices=["tottime", "cumtime"],
        help="cProfile instead: the functions with the most time, own or cumulative",
    )
    args = parser.parse_args()
    with loaded_seatgate(args.database_url, args.users, log_level=args.log_level) as loaded:
        app = loaded.app
        calls = _calls(args, loaded)
        client = app.test_client()
        for call in calls[:WARM_UP]:
            call(client)
        if args.cpu:
            started, wall_started = time.process_time(), time.perf_counter()
            for call in calls[WARM_UP:]:
                call(client)
            spent = (time.process_time() - started) / len(calls[WARM_UP:])
            wall = (time.perf_counter() - wall_started) / len(calls[WARM_UP:])
            print(
                f"{args.scenario}: {spent * 1000:.2f} ms CPU, {wall * 1000:.2f} ms wall per request"
            )
            return
        if args.functions:
            profile = cProfile.Profile()
            profile.enable()
            for call in calls[WARM_UP:]:
                call(client)
            profile.disable()
            pstats.Stats(profile).sort_stats(args.functions).print_stats(60)
            return
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for call in calls[WARM_UP:]:
            call(client)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))


def _expect(response: TestResponse, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)[:500]}")


def _calls(args: argparse.Namespace, loaded: Loaded) -> list[Call]:
    headers = loaded.headers
    total = args.requests + WARM_UP
    picks = [random.randrange(args.users) for _ in range(total)]  # noqa: S311 - not secret
    users = "/scim/v2/Users"

    def get(i: int) -> Call:
        return lambda c: _expect(c.get(f"{users}/{dataset.resource_id(i)}", headers=headers), 200)

    def probe(i: int) -> Call:
        query = {"filter": f'userName eq "{dataset.user_name(i)}"'}
        return lambda c: _expect(c.get(users, query_string=query, headers=headers), 200)

    def page(i: int) -> Call:
        query = {"startIndex": i + 1, "count": 100}
        return lambda c: _expect(c.get(users, query_string=query, headers=headers), 200)

    def post(i: int) -> Call:
        body = dataset.new_user(i, f"p{i}@profile.example.com")
        sent = {**headers, "Content-Type": "application/scim+json"}
        return lambda c: _expect(c.post(users, data=json.dumps(body), headers=sent), 201)

    makers: dict[str, Callable[[int], Call]] = {
        "get": get,
        "filter": probe,
        "page": page,
        "post": post,
    }
    if args.scenario in makers:
        indexes = range(total) if args.scenario == "post" else picks
        return [makers[args.scenario](i) for i in indexes]
    responses = loaded.signed_responses(picks)

    def sign_in(encoded: str) -> Call:
        # Encoded here, not by the test client per request: that is the client's work (half
        # a millisecond of quoting per response), not seatgate's, and wrk sends bodies ready.
        body = urlencode({"SAMLResponse": encoded})
        form = "application/x-www-form-urlencoded"
        return lambda c: _expect(c.post("/sso/bench/acs", data=body, content_type=form), 303)

    return [sign_in(encoded) for encoded in responses]


if __name__ == "__main__":
    main()
