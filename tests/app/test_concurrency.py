"""I1 under real contention: two OS processes × 16 threads race for 50 free seats.

The processes start claiming together (a ready/go handshake over their pipes). That both
of them won seats is what makes it a race between processes rather than two runs one after
the other; a machine busy enough to let one process take every seat before the other gets
going does not fail the test: the race is run again on a fresh organization, a few times at
most. Every race, contended or not, must keep the ledger exact.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.ledger import recount
from app.models import SeatEvent
from tests.factories import add_users, make_org

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, FREE_SEATS, CONTENDERS = 2, 16, 50, 100
RACES = 5  # at most; one where both processes win seats is enough


def race(database_url: str, slug: str) -> list[dict[str, Any]]:
    """Start the racing processes, let them go together once all are ready; their outcomes."""
    share = CONTENDERS // PROCESSES
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.app.claim_race_worker",
                database_url,
                slug,
                str(i * share),
                str((i + 1) * share),
                str(THREADS),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    watchdog = threading.Timer(240, lambda: [racer.kill() for racer in racers])
    watchdog.start()
    try:
        ready = [racer.stdout.readline().strip() for racer in racers]  # type: ignore[union-attr]
        signal = "go\n" if ready == ["ready"] * PROCESSES else "stop\n"
        for racer in racers:  # every process hears it before any is waited for
            racer.stdin.write(signal)  # type: ignore[union-attr]
            racer.stdin.close()  # type: ignore[union-attr]
        outcomes = []
        for racer in racers:
            out = racer.stdout.read()  # type: ignore[union-attr]
            racer.wait()
            assert racer.returncode == 0, out
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
        assert ready == ["ready"] * PROCESSES, ready
        return outcomes
    finally:
        watchdog.cancel()
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()


@pytest.mark.slow
def test_two_processes_never_oversell(database: Database, database_url: str) -> None:
    for attempt in range(1, RACES + 1):
        slug = f"race{attempt}"
        org_id = make_org(database, slug, seats=FREE_SEATS)
        add_users(database, slug, [f"user{i}@{slug}.example.com" for i in range(CONTENDERS)])
        outcomes = race(database_url, slug)
        assert [o["errors"] for o in outcomes] == [[] for _ in outcomes]
        assert sum(o["claimed"] for o in outcomes) == FREE_SEATS
        assert sum(o["refused"] for o in outcomes) == CONTENDERS - FREE_SEATS
        with database.unit_of_work(write=False) as session:
            result = recount(session, org_id)
            refusals = session.scalar(
                select(func.count())
                .select_from(SeatEvent)
                .where(SeatEvent.organization_id == org_id, SeatEvent.kind == "refuse")
            )
        assert result.consistent, result.as_dict()
        assert (result.stored_purchased, result.stored_assigned) == (FREE_SEATS, FREE_SEATS)
        assert refusals == CONTENDERS - FREE_SEATS
        if all(o["claimed"] > 0 for o in outcomes):
            return  # both processes won seats: they competed
    pytest.fail(f"in {RACES} races one process always took every seat; nothing competed")
