"""I1 under real contention: two OS processes × 16 threads race for 50 free seats."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.ledger import recount
from app.models import SeatEvent
from tests.factories import add_users, make_org

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, FREE_SEATS, CONTENDERS = 2, 16, 50, 100


@pytest.mark.slow
def test_two_processes_never_oversell(database: Database, database_url: str) -> None:
    org_id = make_org(database, "race", seats=FREE_SEATS)
    add_users(database, "race", [f"user{i}@race.example.com" for i in range(CONTENDERS)])
    share = CONTENDERS // PROCESSES
    start_at = time.time() + 3.0  # both processes start claiming at the same instant
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.app.claim_race_worker",
                database_url,
                "race",
                str(i * share),
                str((i + 1) * share),
                str(THREADS),
                str(start_at),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    outcomes = []
    for racer in racers:
        out, _ = racer.communicate(timeout=240)
        assert racer.returncode == 0
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert [o["errors"] for o in outcomes] == [[] for _ in outcomes]
    assert sum(o["claimed"] for o in outcomes) == FREE_SEATS
    assert sum(o["refused"] for o in outcomes) == CONTENDERS - FREE_SEATS
    assert all(o["claimed"] > 0 for o in outcomes), "both processes must have competed"
    with database.unit_of_work(write=False) as session:
        result = recount(session, org_id)
        refusals = session.scalar(
            select(func.count()).select_from(SeatEvent).where(SeatEvent.kind == "refuse")
        )
    assert result.consistent, result.as_dict()
    assert (result.stored_purchased, result.stored_assigned) == (FREE_SEATS, FREE_SEATS)
    assert refusals == CONTENDERS - FREE_SEATS
