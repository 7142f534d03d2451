"""The independent checker scim2-tester, through its CLI, against a live seatgate.

``scim2 --url URL test`` prints one line per check, ``SUCCESS <title>`` or another status
(``ERROR``, ``CRITICAL``, ``DEVIATION``, …, then the reason) and exits non-zero if any check is
not ``SUCCESS``. The server is a real HTTP server on 127.0.0.1 (ephemeral port), on each engine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from app import create_app, database_of
from tests.factories import make_org
from tests.scim.conftest import issue_token

SCIM2 = Path(sys.executable).with_name("scim2")
STATUS_LINE = re.compile(r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) ")


class _LateApp:
    """Lets the server pick its port before the app (whose base_url names it) exists."""

    wsgi: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.wsgi(environ, start_response)


@pytest.fixture
def live_scim(database_url: str) -> Iterator[tuple[str, str]]:
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    flask_app = create_app({"env": "test", "base_url": base, "database": {"url": database_url}})
    late.wsgi = flask_app
    database = database_of(flask_app)
    make_org(database, "acme", seats=50)
    token = issue_token(database, "acme")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{base}/scim/v2", token
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        database.dispose()


def test_scim2_tester_finds_no_failure(live_scim: tuple[str, str]) -> None:
    url, token = live_scim
    result = subprocess.run(
        [str(SCIM2), "--url", url, "test"],
        env={**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    statuses = [m.group(1) for line in output.splitlines() if (m := STATUS_LINE.match(line))]
    failures = [
        line
        for line in output.splitlines()
        if STATUS_LINE.match(line) and not line.startswith("SUCCESS")
    ]
    assert statuses, f"scim2 printed no check results:\n{output}\n{result.stderr}"
    assert failures == [], output
    assert result.returncode == 0, output + result.stderr
    assert statuses.count("SUCCESS") >= 20
