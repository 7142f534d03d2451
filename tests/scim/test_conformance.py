"""The independent checker scim2-tester, through its CLI, against a live seatgate.

``scim2 --url URL test`` prints one line per check, ``SUCCESS <title>`` or another status
(``ERROR``, ``CRITICAL``, ``DEVIATION``, …, then the reason) and exits non-zero if any check is
not ``SUCCESS``. The server is a real HTTP server on 127.0.0.1 (ephemeral port), on each engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.factories import make_org
from tests.scim.conftest import LiveServer, issue_token

# The scim2 command installed beside this interpreter (the project's venv), else on PATH.
SCIM2 = Path(sys.executable).with_name("scim2")
if not SCIM2.exists():
    SCIM2 = Path(shutil.which("scim2") or "scim2")
STATUS_LINE = re.compile(r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) ")


def test_scim2_tester_finds_no_failure(live: LiveServer) -> None:
    make_org(live.database, "acme", seats=50)
    url, token = live.url, issue_token(live.database, "acme")
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
    assert statuses.count("SUCCESS") >= 40
    # Groups are checked too: created, read, searched, replaced, patched and deleted.
    group_checks = [line for line in output.splitlines() if "Group" in line]
    for verb in ("created", "replaced", "deleted", "filtering honoured"):
        assert any(verb in line for line in group_checks), output
