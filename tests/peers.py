"""What tests that talk to real peers on this machine share: a free port, and one rule for a
peer that is missing.

Some peers come from the machine, not from the project's Python dependencies: Debian's
``xmlsec1``, SimpleSAMLphp, Chromium, nginx and the PostgreSQL server binaries, a Redis
server. ``make test`` must stay usable on a developer's machine without root, so there a test
whose peer is missing skips, saying which package to install. CI (``.ci/run``) installs every
one of them and sets ``SEATGATE_TEST_REQUIRE_<PEER>=1``; the same absence is then a failure,
so nothing is ever skipped silently where the suite is judged.
"""

from __future__ import annotations

import os
import socket

import pytest

# Settings for an app whose webhooks call the tests' receivers on 127.0.0.1, an address
# production never calls (``app.outbound``); the tests of that guard build their app without.
LOOPBACK_RECEIVERS = {"webhooks": {"allow_private_addresses": True}}


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def required(peer: str) -> bool:
    """Whether CI demands ``peer`` (``SEATGATE_TEST_REQUIRE_<PEER>=1``)."""
    return os.environ.get(f"SEATGATE_TEST_REQUIRE_{peer}") == "1"


def require_peer(peer: str, missing: str | None) -> None:
    """Go on if nothing is ``missing``; else skip with it as the reason, or fail under CI."""
    if missing is None:
        return
    if required(peer):
        pytest.fail(f"{missing} (required: SEATGATE_TEST_REQUIRE_{peer}=1)")
    pytest.skip(missing)
