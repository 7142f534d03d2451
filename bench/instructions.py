"""Instructions per in-process ``GET /Users/{id}`` (or SCIM create), counted by callgrind.

``python -m bench.instructions [--scenario get|post] [--users N] [--requests N]
[--database-url URL] 2>/dev/null``

Why: CPU time moves with whatever else the machine runs (on a shared 2-core machine the same
build varies by ±10 % within minutes, in-process too); an instruction count does not. Each
contender is run in a process of its own under ``valgrind --tool=callgrind`` with
instrumentation off, warmed up, and only one batch of requests is counted (instrumentation is
switched on and off around it with ``callgrind_control``; the SCIM request log's pending rows
are written inside the batch, so that work counts). Instructions are not time (cache misses
and system calls are not weighed), but a change that removes work removes instructions: run
it before and after a change. ``get`` counts seatgate beside the bare Flask app; ``post``
counts seatgate's ``POST /Users`` (a new user per request, seat claim and all) alone. Needs
Debian's valgrind. Slow (~20 s per contender).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.test import EnvironBuilder

from bench.beside_ceiling import _environ

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
WARM_UP_BATCHES = 2


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--scenario", choices=("get", "post"), default="get")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100, help="requests counted")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--contender", choices=("seatgate", "ceiling"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        _count_in_this_process(args)
        return
    if args.scenario == "post":
        created = _counted("seatgate", args)
        print(
            f"POST /Users in-process instructions per request ({args.requests} requests, "
            f"callgrind): seatgate {created:,}"
        )
        return
    counts = {name: _counted(name, args) for name in ("seatgate", "ceiling")}
    print(
        f"GET /Users/{{id}} in-process instructions per request ({args.requests} requests, "
        f"callgrind): seatgate {counts['seatgate']:,}, bare Flask {counts['ceiling']:,}, "
        f"ratio {counts['ceiling'] / counts['seatgate']:.2f}×"
    )


def _counted(contender: str, args: argparse.Namespace) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.instructions",
        "--contender",
        contender,
        "--scenario",
        args.scenario,
        "--users",
        str(args.users),
        "--requests",
        str(args.requests),
        *(["--database-url", args.database_url] if args.database_url else []),
    ]
    # A fixed hash seed: the same dict and set layouts in every run, so counts repeat.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = _COLLECTED.search(run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {contender} failed:\n{run.stderr[-2000:]}")
    return int(found.group(1)) // args.requests


def _count_in_this_process(args: argparse.Namespace) -> None:
    from app import scim_request_log_of
    from bench import dataset
    from bench.in_process import BASE_URL, loaded_seatgate
    from bench.peers import flask_ceiling

    picks = random.Random(1).choices(range(args.users), k=args.requests)  # noqa: S311 - not secret
    if args.contender == "ceiling":  # no database: the bare app answers a fixed body
        environs = [_environ(f"/Users/{dataset.resource_id(i)}", {}) for i in picks]
        _count(flask_ceiling.application.wsgi_app, [environs] * (WARM_UP_BATCHES + 1), "200")
        return
    with loaded_seatgate(args.database_url, args.users) as loaded:
        if args.scenario == "get":
            environs = [
                _environ(f"/scim/v2/Users/{dataset.resource_id(i)}", loaded.headers) for i in picks
            ]
            batches, status = [environs] * (WARM_UP_BATCHES + 1), "200"
        else:  # every request creates a user of its own (a body is read once)
            headers = {**loaded.headers, "Content-Type": "application/scim+json"}
            batches = [
                [
                    _create(BASE_URL, headers, batch * args.requests + i)
                    for i in range(args.requests)
                ]
                for batch in range(WARM_UP_BATCHES + 1)
            ]
            status = "201"
        _count(loaded.app.wsgi_app, batches, status, scim_request_log_of(loaded.app).flush)


def _create(base_url: str, headers: dict[str, str], number: int) -> dict[str, Any]:
    from bench import dataset

    body = dataset.scim_user(number)
    body["userName"] = body["emails"][0]["value"] = f"i{number}@instructions.example.com"
    builder = EnvironBuilder(
        method="POST",
        path="/scim/v2/Users",
        base_url=base_url,
        headers=headers,
        data=json.dumps(body),
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _count(
    app: Any,
    batches: list[list[dict[str, Any]]],
    status: str,
    flush: Callable[[], int] = lambda: 0,
) -> None:
    """Run every batch; count the instructions of the last one only."""

    def start_response(answered: str, _headers: Any, _exc_info: Any = None) -> None:
        if not answered.startswith(status):
            raise RuntimeError(f"expected {status}, got {answered}")

    def run(environs: list[dict[str, Any]]) -> None:
        for environ in environs:
            b"".join(app(dict(environ), start_response))
        flush()

    *warm_ups, counted = batches
    for environs in warm_ups:
        run(environs)
    with _instrumented():
        run(counted)


@contextmanager
def _instrumented() -> Iterator[None]:
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)


if __name__ == "__main__":
    main()
