"""Instructions per in-process ``GET /Users/{id}`` (or SCIM create, or SAML sign-in),
counted by callgrind.

``python -m bench.instructions [--scenario get|post|acs] [--users N] [--requests N]
[--database-url URL] 2>/dev/null``

Why: CPU time moves with whatever else the machine runs (on a shared 2-core machine the same
build varies by ±10 % within minutes, in-process too); an instruction count hardly does
(within ~1 % side by side, ~3 % over hours: the SCIM request log's writer thread wakes on a
wall-clock timer, and its batches that fall in the counted window vary). Each
contender is run in a process of its own under ``valgrind --tool=callgrind`` with
instrumentation off, warmed up, and only one batch of requests is counted (instrumentation is
switched on and off around it with ``callgrind_control``; the SCIM request log's pending rows
are written inside the batch, so that work counts). Instructions are not time (cache misses
and system calls are not weighed), but a change that removes work removes instructions: run
the two versions side by side. ``get`` counts seatgate beside the bare Flask app; ``post``
counts seatgate's ``POST /Users`` (a new user per request, seat claim and all) alone; ``acs``
counts seatgate's ``POST /sso/<org>/acs`` alone (a signed, IdP-initiated response with unique
ids per request, for an existing user; the responses are signed before counting). Needs
Debian's valgrind. Slow (~20 s per contender; ``acs`` ~1 min). With
``BENCH_CALLGRIND_OUT=FILE`` callgrind's profile is kept in ``FILE`` for ``callgrind_annotate``
(the ACS's RSA signature of the session token shows up there as a third of its instructions,
though far less of its time: the big-number code runs many instructions per cycle).
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
from urllib.parse import urlencode

from app import scim_request_log_of
from bench import dataset
from bench.beside_ceiling import _batch, _environ
from bench.in_process import Loaded, loaded_seatgate
from bench.peers import flask_ceiling

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
WARM_UP_BATCHES = 2


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--scenario", choices=("get", "post", "acs"), default="get")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100, help="requests counted")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--contender", choices=("seatgate", "ceiling"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        _count_in_this_process(args)
        return
    if args.scenario in ("post", "acs"):
        counted = _counted("seatgate", args)
        what = "POST /Users" if args.scenario == "post" else "POST /sso/<org>/acs"
        print(
            f"{what} in-process instructions per request ({args.requests} requests, "
            f"callgrind): seatgate {counted:,}"
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
        "--callgrind-out-file=" + os.environ.get("BENCH_CALLGRIND_OUT", "/dev/null"),
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
    # The counted process's total; processes it forked (``acs`` signs its responses in a
    # pool) print their own, zero: instrumentation is switched on in the counted one only.
    found = max(_COLLECTED.findall(run.stderr), key=int, default=None)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {contender} failed:\n{run.stderr[-2000:]}")
    return int(found) // args.requests


def _count_in_this_process(args: argparse.Namespace) -> None:
    picks = random.Random(1).choices(range(args.users), k=args.requests)  # noqa: S311 - not secret
    if args.contender == "ceiling":  # no database: the bare app answers a fixed body
        environs = [_environ(f"/Users/{dataset.resource_id(i)}", {}) for i in picks]
        _count(flask_ceiling.application.wsgi_app, [environs] * (WARM_UP_BATCHES + 1))
        return
    with loaded_seatgate(args.database_url, args.users) as loaded:
        flush = scim_request_log_of(loaded.app).flush
        if args.scenario == "get":
            environs = [
                _environ(f"/scim/v2/Users/{dataset.resource_id(i)}", loaded.headers) for i in picks
            ]
            _count(loaded.app.wsgi_app, [environs] * (WARM_UP_BATCHES + 1), flush)
            return
        if args.scenario == "acs":
            batches = _sign_ins(loaded, picks * (WARM_UP_BATCHES + 1), args.requests)
            _count(loaded.app.wsgi_app, batches, flush, status="303")
            return
        # Every request creates a user of its own (and a body is read once).
        headers = {**loaded.headers, "Content-Type": "application/scim+json"}
        batches = [
            [_create(headers, batch * args.requests + i) for i in range(args.requests)]
            for batch in range(WARM_UP_BATCHES + 1)
        ]
        _count(loaded.app.wsgi_app, batches, flush, status="201")


def _sign_ins(loaded: Loaded, users: list[int], per_batch: int) -> list[list[Any]]:
    """Batches of ACS requests: one signed response per request, each usable once."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    environs = [
        _environ("/sso/bench/acs", form, method="POST", data=urlencode({"SAMLResponse": r}))
        for r in loaded.signed_responses(users)
    ]
    return [environs[i : i + per_batch] for i in range(0, len(environs), per_batch)]


def _create(headers: dict[str, str], number: int) -> dict[str, Any]:
    body = dataset.new_user(number, f"i{number}@instructions.example.com")
    return _environ("/scim/v2/Users", headers, method="POST", data=json.dumps(body))


def _count(
    app: Any,
    batches: list[list[dict[str, Any]]],
    flush: Callable[[], int] = lambda: 0,
    status: str = "200",
) -> None:
    """Run every batch; count the instructions of the last one only."""
    *warm_ups, counted = batches
    for environs in warm_ups:
        _batch(app, environs, flush, status)
    with _instrumented():
        _batch(app, counted, flush, status)


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
