"""The short soak, in the suite: two instances behind nginx, load, faults, invariants.

It needs Debian's ``nginx`` and the PostgreSQL server binaries. Without them it
skips with the reason, except under CI (``SEATGATE_TEST_REQUIRE_SOAK=1``), where it fails.
``make soak`` runs the long form.
"""

from __future__ import annotations

import json

import pytest

from tests.peers import require_peer
from tests.soak.harness import Fault, Report, check_answers, run
from tests.soak.load import Answer
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


def test_a_5xx_is_the_fault_s_when_its_request_was_in_flight_during_it() -> None:
    """Judged by when the request was out, not only when it was sent: on a slow machine a
    request sent a second before a SIGKILL is still on the killed instance when it dies."""
    kill = Fault("sigkill instance a", started=100.0, ended=110.0)

    def bad_gateway(sent: float, answered: float) -> Answer:
        return Answer(sent, "scim0", "deactivate", 502, True, False, "502", answered)

    in_flight, before, after = (
        bad_gateway(97.0, 101.0),
        bad_gateway(90.0, 95.0),
        bad_gateway(120.0, 121.0),
    )
    report = Report(seats=1, answers=[in_flight, before, after], faults=[kill])
    check_answers(report)
    outside = [problem for problem in report.problems if problem.startswith("5xx")]
    assert outside == [f"5xx outside a fault: {before}", f"5xx outside a fault: {after}"]
