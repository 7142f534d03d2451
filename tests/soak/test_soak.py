"""The short soak, in the suite: two instances behind nginx, load, faults, invariants.

It needs Debian's ``nginx`` and the PostgreSQL server binaries. Without them it
skips with the reason, except under CI (``SEATGATE_TEST_REQUIRE_SOAK=1``), where it fails.
``make soak`` runs the long form.
"""

from __future__ import annotations

import json

import pytest

from tests.peers import require_peer
from tests.soak.harness import run
from tests.soak.processes import missing_tools


@pytest.mark.slow
def test_two_instances_under_load_and_faults_keep_every_invariant() -> None:
    missing = missing_tools()
    require_peer(
        "SOAK", f"the soak needs the Debian packages {', '.join(missing)}" if missing else None
    )
    report = run(seconds=12, seats=5, workers=4)
    summary = json.dumps(report.summary(), indent=2, default=str)
    assert report.problems == [], summary
    assert report.facts["ledger_verify"]["consistent"] is True, summary
    assert [f.name for f in report.faults] == [
        "sigkill instance a",
        "restart postgresql",
        "smtp down",
    ], summary
