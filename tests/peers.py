"""What tests that talk to real peers on this machine share: a free port, where a peer
program is, and one rule for a peer that is missing.

Some peers come from the machine, not from the project's Python dependencies: SimpleSAMLphp
(with PHP), Chromium, nginx and the PostgreSQL server binaries, a Redis server. ``make test``
must stay usable on a developer's machine without root, so there a test whose peer is missing
skips, naming the Debian package to install. CI (``.ci/run``) installs every one of them and
sets ``SEATGATE_TEST_REQUIRE_<PEER>=1``; the same absence is then a failure, so nothing is
ever skipped silently where the suite is judged.

CI also runs the suite once as a fresh machine would, with ``SEATGATE_TEST_HIDE_PEERS=1``
and the peers' programs taken off ``PATH``: then no peer is found, not even at the absolute
paths Debian installs some of them to, nor a Redis the machine happens to run.
"""

from __future__ import annotations

import glob
import os
import shutil
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


def peers_hidden() -> bool:
    """Whether the suite must act as on a machine with no peer (``SEATGATE_TEST_HIDE_PEERS=1``)."""
    return os.environ.get("SEATGATE_TEST_HIDE_PEERS") == "1"


def find_program(name: str, *installed_at: str) -> str | None:
    """Where the peer program ``name`` is: on ``PATH``, else the newest match of one of the
    glob patterns in ``installed_at`` (Debian puts nginx in /usr/sbin and the PostgreSQL
    server in /usr/lib/postgresql/N/bin); None when it is missing or peers are hidden."""
    if peers_hidden():
        return None
    found = shutil.which(name)
    if found:
        return found
    for pattern in installed_at:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return None


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
