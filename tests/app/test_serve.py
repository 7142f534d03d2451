"""`seatgate serve` runs the app under gunicorn and answers over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.peers import free_port


def test_serve_answers_health_checks(tmp_path: Path) -> None:
    seatgate = str(Path(sys.executable).parent / "seatgate")
    env = {**os.environ, "SEATGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    subprocess.run([seatgate, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [seatgate, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = None
        deadline = time.monotonic() + 120  # a guard against a hang, not a speed limit
        while time.monotonic() < deadline and body is None and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    body = json.loads(reply.read())
                    request_id = reply.headers["X-Request-Id"]
            except OSError:
                time.sleep(0.2)
        assert body == {"status": "ok", "database": "ok"}
        assert request_id
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
