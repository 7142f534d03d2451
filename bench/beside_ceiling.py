"""CPU per ``GET /Users/{id}`` in-process, beside the bare Flask app, interleaved.

``python -m bench.beside_ceiling [--users N] [--rounds N] [--database-url URL] 2>/dev/null``

Why: over HTTP a change of a few percent drowns in the machine's noise (on a shared 2-core
machine the same contender varies by ±15 % between runs). Here both WSGI callables are
called directly, without gunicorn or a socket, in alternating batches of 200 requests, and
each batch is timed in CPU time of the whole process (so the SCIM request log's writer
thread counts; its pending rows are written at the end of every batch). The medians and
their ratio compare two versions of seatgate fairly: run it before and after a change.
It is the in-process part of the ``make bench`` ratio to the Flask ceiling, not that ratio:
over HTTP both sides also pay gunicorn's and the kernel's cost per request.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.test import EnvironBuilder

from app import scim_request_log_of
from bench import dataset
from bench.in_process import BASE_URL, loaded_seatgate
from bench.peers import flask_ceiling

BATCH = 200
WARM_UP_BATCHES = 3

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.beside_ceiling")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=15, help="batches per contender")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    with loaded_seatgate(args.database_url, args.users) as loaded:
        app = loaded.app
        picks = [random.randrange(args.users) for _ in range(BATCH)]  # noqa: S311 - not secret
        seatgate = [
            _environ(f"/scim/v2/Users/{dataset.resource_id(i)}", loaded.headers) for i in picks
        ]
        ceiling = [_environ(f"/Users/{dataset.resource_id(i)}", {}) for i in picks]
        flush = scim_request_log_of(app).flush
        timings: dict[str, list[float]] = {"seatgate": [], "ceiling": []}
        for round_number in range(WARM_UP_BATCHES + args.rounds):
            spent = (
                _batch(app.wsgi_app, seatgate, flush),
                _batch(flask_ceiling.application.wsgi_app, ceiling, lambda: 0),
            )
            if round_number >= WARM_UP_BATCHES:
                timings["seatgate"].append(spent[0])
                timings["ceiling"].append(spent[1])
    ours, theirs = (statistics.median(timings[name]) / BATCH * 1e6 for name in timings)
    print(
        f"GET /Users/{{id}} in-process CPU per request (median of {args.rounds} batches of "
        f"{BATCH}): seatgate {ours:.0f} µs, bare Flask {theirs:.0f} µs, "
        f"ratio {theirs / ours:.2f}×"
    )


def _environ(
    path: str, headers: dict[str, str], *, method: str = "GET", data: str | None = None
) -> dict[str, Any]:
    builder = EnvironBuilder(
        path=path, base_url=BASE_URL, headers=headers, method=method, data=data
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _batch(
    app: WsgiApp, environs: list[dict[str, Any]], flush: Callable[[], int], status: str = "200"
) -> float:
    def start_response(answered: str, _headers: Any, _exc_info: Any = None) -> None:
        if not answered.startswith(status):
            raise RuntimeError(f"expected {status}, got {answered}")

    started = time.process_time()
    for environ in environs:
        b"".join(app(dict(environ), start_response))
    flush()
    return time.process_time() - started


if __name__ == "__main__":
    main()
