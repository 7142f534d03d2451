"""The floors: what Flask and PostgreSQL cost a request before seatgate does anything, beside
seatgate, the bare Flask ceiling and scim2-server, over HTTP, in one run.

``python -m bench.floors [--users N] [--seconds S] [--rounds N] [--statements 1,3,9]
[--postgres-url URL] 2>/dev/null``

Why: two of issue 8's targets are ratios on PostgreSQL (``GET /Users/{id}`` at 0.5 × the
ceiling, ``POST /Users`` at 0.8 × scim2-server's in-memory create, every write durable). A
floor (:mod:`bench.peers.floor`) does a request's database work and nothing else, so it
bounds what any implementation on this stack can reach: if the floor is under a target, no
change to seatgate's own code meets it; if it is over, the difference is the budget left
for everything seatgate does besides (parsing, validation, rendering, the ledger's logic,
logs, metrics, rate limits). ``GET``: the one statement seatgate's read runs. ``POST``: N
single-row INSERTs in one durable transaction, each a round trip or all in one pipeline
(seatgate's create runs 9 in its transaction; ``--statements`` chooses the Ns).

Every contender runs under the same gunicorn settings as ``make bench`` (2 sync workers),
is warmed up, then measured ``--rounds`` times, alternating with the others; the best round
of each is kept (the same rule for all). Each line gives the CPU per request of each group
of processes (``bench.cpu_split``); a round with a failed request fails the run.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_split import Split, load_organization, measured
from bench.peers import floor
from bench.run import (
    DEFAULT_POSTGRES,
    gunicorn,
    serve_ceiling,
    serve_scim2_server,
    serve_seatgate,
    wrk,
)

# A seatgate create runs its token's read, then 9 statements in its transaction: the checks
# before it writes, 7 writes (member, user, values, seat claim, assignment, ledger event,
# audit entry) and the alert policy's read. The floor's 9 INSERTs leave out the token read.
SEATGATE_STATEMENTS = 9


@dataclass(frozen=True)
class Contender:
    name: str
    scenario: str  # get | post
    url: str
    token: str
    prefix: str
    peer: bool = False  # the one the scenario's ratios are taken to


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floors")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--statements", default=f"1,3,{SEATGATE_STATEMENTS}")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    statements = sorted({int(n) for n in args.statements.split(",")})
    if not statements or statements[0] < 1:
        parser.error("--statements: a comma-separated list of counts of at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="seatgate-floors-"))
    url, loaded, index = load_organization("postgresql", workdir, args.users, args.postgres_url)
    floor.create_table(url)
    peer_token = secrets.token_urlsafe(24)
    with ExitStack() as servers:
        seatgate = servers.enter_context(serve_seatgate("floors-seatgate", url, workers=2))
        floors = servers.enter_context(
            gunicorn(
                "floors-floor",
                "bench.peers.floor:application",
                {"FLOOR_DATABASE_URL": url},
                workers=2,
                ready_path="/ready",
            )
        )
        ceiling = servers.enter_context(serve_ceiling("floors-ceiling", workers=2))
        scim2 = servers.enter_context(
            serve_scim2_server("floors-scim2-server", users=args.users, token=peer_token, workers=2)
        )
        token = loaded.scim_token
        contenders = [
            Contender("bare Flask, fixed body (ceiling)", "get", ceiling.url, "-", "", peer=True),
            Contender("floor: seatgate's one statement", "get", floors.url, token, ""),
            Contender("seatgate", "get", seatgate.url, token, "/scim/v2"),
            Contender("scim2-server, in memory", "post", scim2.url, peer_token, "/v2", peer=True),
            *_post_floors(floors.url, statements),
            Contender("seatgate", "post", seatgate.url, token, "/scim/v2"),
        ]
        best = _measure(contenders, index, args.seconds, args.rounds)
    _report(contenders, best, args)


def _post_floors(url: str, statements: list[int]) -> Iterator[Contender]:
    for count in statements:
        for mode in floor.MODES if count > 1 else ("plain",):
            name = f"floor: {count} INSERT{'s' if count > 1 else ''}" + (
                ", one pipeline" if mode == "pipelined" else ""
            )
            yield Contender(name, "post", url, "-", f"/floor/{count}/{mode}")


def _measure(
    contenders: list[Contender], index: Path, seconds: int, rounds: int
) -> dict[Contender, Split]:
    for contender in contenders:  # warm-up: connections, caches, prepared statements
        wrk(
            contender.url,
            contender.scenario,
            index,
            contender.token,
            contender.prefix,
            seconds=2,
            connections=8,
            threads=2,
        )
    best: dict[Contender, Split] = {}
    for round_number in range(rounds):
        for contender in contenders:
            split = measured(
                contender.url,
                contender.scenario,
                index,
                contender.token,
                contender.prefix,
                seconds,
            )
            print(
                f"round {round_number + 1}: {contender.scenario} {contender.name}: {split.line()}"
            )
            if contender not in best or split.per_second > best[contender].per_second:
                best[contender] = split
    return best


def _report(
    contenders: list[Contender], best: dict[Contender, Split], args: argparse.Namespace
) -> None:
    print()
    print(
        f"python -m bench.floors --users {args.users} --seconds {args.seconds} "
        f"--rounds {args.rounds} --statements {args.statements} (best round of each)"
    )
    print()
    print(
        "| scenario | contender | req/s | ratio to the peer "
        "| CPU µs per request: workers / PostgreSQL / wrk / other |"
    )
    print("|---|---|---:|---:|---|")
    for scenario in ("get", "post"):
        mine = [c for c in contenders if c.scenario == scenario]
        peer = next(c for c in mine if c.peer)
        for contender in mine:
            split = best[contender]
            cpu = split.per_request_us
            ratio = split.per_second / best[peer].per_second
            print(
                f"| {scenario.upper()} | {contender.name} | {split.per_second:,.0f} | "
                f"{ratio:.2f}× | {cpu['workers']:.0f} / {cpu['database']:.0f} / "
                f"{cpu['wrk']:.0f} / {cpu['other']:.0f} |"
            )


if __name__ == "__main__":
    main()
