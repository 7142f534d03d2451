"""``python -m bench.beside_ceiling`` serves real GETs from both apps (every one a 200)."""

from __future__ import annotations

import re
import sys

import pytest

from bench import beside_ceiling


def test_it_compares_seatgate_and_the_bare_app_on_served_users(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--users", "30", "--rounds", "1", "--database-url", empty_database_url]
    monkeypatch.setattr(sys, "argv", ["beside_ceiling", *arguments])
    beside_ceiling.main()  # raises if any request of either app is not a 200
    line = capsys.readouterr().out
    match = re.search(r"seatgate (\d+) µs, bare Flask (\d+) µs, ratio ([\d.]+)×", line)
    assert match, line
    assert int(match.group(1)) > 0 and int(match.group(2)) > 0
