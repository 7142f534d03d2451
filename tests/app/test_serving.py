"""`seatgate serve` under real gunicorn on 127.0.0.1: a clean JSON log whatever happens to a
worker, and /metrics that add up over workers (and outlive one)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.peers import free_port

SEATGATE = str(Path(sys.executable).parent / "seatgate")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Served:
    """A ``seatgate serve`` this test started: its master's PID, port and log files."""

    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as reply:
            assert reply.status == 200
            return bytes(reply.read())

    def workers(self) -> set[int]:
        """The PIDs of the master's children: its workers."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if int(fields[1]) == self.process.pid:
                children.add(int(stat.parent.name))
        return children

    def wait_for_workers(self, count: int, *, other_than: frozenset[int] = frozenset()) -> set[int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            current = self.workers()
            if len(current) == count and not current & other_than:
                return current
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not run {count} fresh workers: {self.workers()}")

    def wait_until_answering(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.stderr.read_text()
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("seatgate serve did not answer: " + self.stderr.read_text())

    def requests_counted(self, route: str) -> float:
        """``seatgate_http_requests_total`` for GET ``route`` answered 200, as one scrape says."""
        text = self.get("/metrics").decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "seatgate_http_requests_total" and sample.labels == {
                    "route": route,
                    "method": "GET",
                    "status": "200",
                }:
                    return sample.value
        return 0.0

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(workers: int | None = None, **environment: str) -> Served:
        """``seatgate serve --port P --workers N``; with no ``workers``, ``seatgate serve``
        alone, listening where the settings (``environment``) say."""
        database = tmp_path / "serve.sqlite3"
        env = {
            **os.environ,
            "SEATGATE_DATABASE_URL": f"sqlite:///{database}",
            "SEATGATE_ALERTS_DELIVER_IN_BACKGROUND": "false",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(environment)
        if not database.exists():
            subprocess.run([SEATGATE, "db", "upgrade"], env=env, check=True, capture_output=True)
        port = int(env["SEATGATE_SERVER_PORT"]) if workers is None else free_port()
        flags = [] if workers is None else ["--port", str(port), "--workers", str(workers)]
        stdout, stderr = tmp_path / f"stdout-{port}.log", tmp_path / f"stderr-{port}.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen([SEATGATE, "serve", *flags], env=env, stdout=out, stderr=err)
        served = Served(process, port, stdout, stderr)
        started.append(served)
        served.wait_until_answering()
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.stop()


def test_stopping_workers_leaves_a_clean_json_log(serve: Callable[..., Served]) -> None:
    """gunicorn's "Worker exiting (pid: %s)" once failed to format in every stopping worker
    and wrote a traceback into the log instead."""
    served = serve(workers=2)
    workers = served.wait_for_workers(2)
    served.get("/healthz")
    temporary = Path(tempfile.gettempdir())
    metrics_files = [path for pid in workers for path in temporary.glob(f"seatgate-*/*_{pid}.db")]
    assert metrics_files, "the workers count into a temporary directory of the server's own"
    stopped = min(workers)
    os.kill(stopped, signal.SIGTERM)  # one worker, as gunicorn's own restarts stop it
    served.wait_for_workers(2, other_than=frozenset({stopped}))
    served.wait_until_answering()
    assert served.stop() == 0  # then the whole server, with its workers

    assert served.stdout.read_text() == ""  # gunicorn's access log is off: the app logs requests
    log = served.stderr.read_text()
    assert "Traceback" not in log
    assert "Logging error" not in log
    lines = [json.loads(line) for line in log.splitlines()]  # every line one JSON object
    messages = [line["message"] for line in lines]
    assert f"Worker exiting (pid: {stopped})" in messages
    assert "Shutting down: Master" in messages
    assert any(line["logger"] == "seatgate.http" for line in lines)
    assert not metrics_files[0].parent.exists()  # the server removed its own directory


def test_metrics_add_up_over_workers_and_outlive_a_worker(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = directory / "counter_1.db"
    stale.write_bytes(b"left by a previous run")
    served = serve(workers=2, PROMETHEUS_MULTIPROC_DIR=str(directory))
    assert not stale.exists()  # emptied at start
    served.wait_for_workers(2)

    # One worker stays busy reading a request that has not finished arriving, so the other
    # serves the next ones: both workers count some of them.
    held = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    held.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    time.sleep(0.5)
    for _ in range(9):
        served.get("/readyz")
    held.sendall(b"Connection: close\r\n\r\n")
    assert held.recv(100).startswith(b"HTTP/1.1 200")
    held.close()
    total = 10

    for _ in range(6):  # whichever worker answers the scrape
        assert served.requests_counted("/readyz") == total

    victim = sorted(served.workers())[0]
    os.kill(victim, signal.SIGKILL)  # a crash: no chance to write anything on the way out
    served.wait_for_workers(2, other_than=frozenset({victim}))
    served.wait_until_answering()
    for _ in range(6):
        assert served.requests_counted("/readyz") == total
    served.get("/readyz")
    assert served.requests_counted("/readyz") == total + 1
    assert served.stop() == 0
    assert directory.is_dir()  # a directory the operator named is kept


def test_the_demos_urls_lead_where_serve_listens(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    """`make run` runs `seatgate demo` then `seatgate serve`, neither given a port: the URLs
    the first prints must answer on the second, whatever port the settings name."""
    port = free_port()
    environment = {"SEATGATE_SERVER_PORT": str(port), "SEATGATE_SERVER_WORKERS": "1"}
    env = {
        **os.environ,
        **environment,
        "SEATGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
    }
    env.pop("SEATGATE_BASE_URL", None)
    subprocess.run([SEATGATE, "db", "upgrade"], env=env, check=True, capture_output=True)
    demo = subprocess.run([SEATGATE, "demo"], env=env, check=True, capture_output=True, text=True)
    urls = json.loads(demo.stdout)["urls"]
    served = serve(**environment)
    assert served.port == port
    assert urls["health"] == f"http://127.0.0.1:{port}/healthz"
    with urllib.request.urlopen(urls["health"], timeout=10) as reply:
        assert json.loads(reply.read()) == {"status": "ok", "database": "ok"}
    with urllib.request.urlopen(urls["openapi"], timeout=10) as reply:
        assert reply.status == 200
    assert urls["sso_metadata"] is None  # none until an IdP is configured: never a 404 here
    sign_in = urllib.request.Request(urls["owner_sign_in"])
    opener = urllib.request.build_opener(NoRedirects)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(sign_in, timeout=10)
    assert redirected.value.code == 303  # the one-time link signs the owner in
