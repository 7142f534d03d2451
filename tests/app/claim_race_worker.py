"""One OS process of the claim race: N threads claim seats for a slice of members.

Run by tests/app/test_concurrency.py as ``python -m tests.app.claim_race_worker URL SLUG
FIRST LAST THREADS``. It sets everything up, starts its threads, prints ``ready`` and waits
for a line on stdin: the test answers ``go`` once every process is ready, so the processes
start claiming together however slowly each one started. Then it prints
``{"claimed": n, "refused": m, "errors": [...]}``.
"""

from __future__ import annotations

import json
import queue
import sys
import threading

from sqlalchemy import select

from app.db import Database
from app.errors import NoFreeSeat
from app.ledger import Actor, claim_seat
from app.models import Member, Source
from app.organizations import get_organization
from app.settings import DatabaseSettings


def main(url: str, slug: str, first: int, last: int, threads: int) -> None:
    database = Database(DatabaseSettings(url=url, pool_size=threads))
    with database.unit_of_work(write=False) as session:
        organization = get_organization(session, slug)
        ids = list(
            session.scalars(
                select(Member.id)
                .where(Member.organization_id == organization.id, Member.role == "user")
                .order_by(Member.id)
            )
        )[first:last]
    work: queue.Queue[int] = queue.Queue()
    for member_id in ids:
        work.put(member_id)
    results = {"claimed": 0, "refused": 0, "errors": []}
    lock = threading.Lock()
    actor = Actor(label="race", source=Source.CLI)
    go = threading.Event()

    def claimant() -> None:
        go.wait()
        while True:
            try:
                member_id = work.get_nowait()
            except queue.Empty:
                return
            try:
                with database.unit_of_work() as session:
                    member = session.get(Member, member_id)
                    assert member is not None
                    claim_seat(session, member, actor=actor)
                outcome = "claimed"
            except NoFreeSeat:
                outcome = "refused"
            except Exception as exc:  # reported, and the test fails on any
                with lock:
                    results["errors"].append(repr(exc))  # type: ignore[attr-defined]
                continue
            with lock:
                results[outcome] += 1  # type: ignore[operator]

    workers = [threading.Thread(target=claimant) for _ in range(threads)]
    for worker in workers:
        worker.start()
    print("ready", flush=True)
    if sys.stdin.readline().strip() == "go":
        go.set()
    else:  # the test gave up on this race: claim nothing
        while not work.empty():
            work.get_nowait()
        go.set()
    for worker in workers:
        worker.join()
    database.dispose()
    print(json.dumps(results))


if __name__ == "__main__":
    url, slug, first, last, threads = sys.argv[1:6]
    main(url, slug, int(first), int(last), int(threads))
