"""The harness's own processes: a PostgreSQL cluster, gunicorn instances and nginx.

Everything listens on ephemeral 127.0.0.1 ports and lives in one temporary directory. Each
process is started here and stopped here by its PID (a gunicorn instance by its own process
group, which holds only its master and workers); nothing else on the machine is touched. In
particular the PostgreSQL cluster is a fresh ``initdb`` of our own, so restarting it harms no
other user of the machine's PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.peers import find_program, free_port

PROJECT = Path(__file__).resolve().parents[2]
NGINX_SITE = PROJECT / "config" / "nginx-seatgate.conf"
GUNICORN_CONFIG = PROJECT / "config" / "gunicorn.conf.py"


def postgresql_bin() -> Path | None:
    initdb = find_program("initdb", "/usr/lib/postgresql/*/bin/initdb")
    return Path(initdb).resolve().parent if initdb else None  # the directory of createdb too


def nginx_binary() -> str | None:
    return find_program("nginx", "/usr/sbin/nginx")


def missing_tools() -> list[str]:
    """Debian packages the harness needs and cannot find."""
    missing = []
    if postgresql_bin() is None:
        missing.append("postgresql")
    if nginx_binary() is None:
        missing.append("nginx")
    return missing


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout} s")


@dataclass
class PostgresCluster:
    """``initdb`` into ``directory``; trust authentication on 127.0.0.1 only."""

    directory: Path
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.bin = postgresql_bin()
        assert self.bin is not None, "PostgreSQL server binaries not found"
        self.data = self.directory / "pgdata"
        self.data.mkdir(parents=True)
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.data, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/seatgate"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]  # type: ignore[operator]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", "-o", options,
            "-l", str(self.data / "server.log"), *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """What an operator's restart (or a fail-over) does: every connection is cut."""
        self._pg_ctl("restart", "-m", "fast")

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "seatgate")

    def stop(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        except subprocess.SubprocessError:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)


@dataclass
class Instance:
    """One seatgate instance: gunicorn (config/gunicorn.conf.py) in its own process group."""

    name: str
    environment: dict[str, str]
    log_directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.log_directory / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(GUNICORN_CONFIG),
                "--bind",
                f"127.0.0.1:{self.port}",
                "app.wsgi:application",
            ],
            cwd=PROJECT,
            env={**os.environ, **self.environment},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        wait_until(self.healthy, 60, f"seatgate instance {self.name}")

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: a crashed machine, not a shutdown."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class Nginx:
    """nginx in front of the instances, with the shipped site configuration."""

    directory: Path
    upstreams: list[int]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configuration(self) -> str:
        servers = "\n".join(
            f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in self.upstreams
        )
        site = NGINX_SITE.read_text()
        site = site.replace("    server 127.0.0.1:8001 max_fails=1 fail_timeout=2s;\n", "")
        site = site.replace("    server 127.0.0.1:8000 max_fails=1 fail_timeout=2s;", servers)
        site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{self.port};")
        site = "\n".join(line for line in site.splitlines() if "ssl_certificate" not in line)
        temp = self.directory / "nginx"
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}daemon off;\nworker_processes 1;\npid {temp}/nginx.pid;\n"
            f"error_log {temp}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log {temp}/access.log;\n"
            f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
            f"  scgi_temp_path {temp}/scgi;\n{site}\n}}\n"
        )

    def start(self) -> None:
        temp = self.directory / "nginx"
        temp.mkdir(exist_ok=True)
        conf = temp / "nginx.conf"
        conf.write_text(self.configuration())
        binary = nginx_binary()
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "-p", str(temp), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=(temp / "stderr.log").open("ab"),
            start_new_session=True,
        )
        wait_until(self._answers, 20, "nginx")

    def _answers(self) -> bool:
        try:
            requests.get(f"{self.url}/healthz", timeout=2)
            return True
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # the master and its worker
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
