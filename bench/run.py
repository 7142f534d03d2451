"""``make bench``: seatgate beside its peers, on SQLite and PostgreSQL, one run, one machine.

For each engine: bulk-load one organization of 10,000 users and one of 100,000 into one
database, serve seatgate under gunicorn, and drive each scenario with ``wrk`` from its own
process, the two organizations interleaved with the peers (scim2-server in memory and a bare
Flask app, served by the same gunicorn settings; python3-saml's stock ``process_response``
for the ACS). Every figure is printed beside its peer's and as a ratio; the raw numbers go to
``bench/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import Database
from app.ledger import recount
from app.migrations_runner import upgrade_database
from app.settings import DatabaseSettings
from bench import dataset, load
from bench import saml as bench_saml
from tests.peers import free_port

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua" / "scim.lua"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "seatgate_bench"


@dataclass
class Measure:
    """One wrk run of one contender."""

    contender: str
    scenario: str
    users: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    machine: dict[str, Any]
    settings: dict[str, Any]
    measures: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, engine: str, measure: Measure) -> None:
        self.measures.append({"engine": engine, **asdict(measure), "rate": measure.rate})
        print(
            f"  {engine:10} {measure.contender:13} {measure.scenario:7} {measure.users:>7} users:"
            f" {measure.rate:8.1f} req/s  p50 {measure.p50_ms:7.2f} ms"
            f"  p99 {measure.p99_ms:7.2f} ms  errors {measure.errors}",
            flush=True,
        )


# --- processes ---------------------------------------------------------------------------


@dataclass
class Served:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(entry.name))
        return pids

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes


@contextmanager
def gunicorn(
    name: str,
    module: str,
    env: dict[str, str],
    *,
    workers: int,
    ready_path: str,
    port: int | None = None,
) -> Iterator[Served]:
    """Serve ``module`` with the benchmark's one set of gunicorn settings; stop it after."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        module,
    ]
    logs = ROOT / "bench" / "out"
    logs.mkdir(exist_ok=True)  # a fresh checkout has none (bench.cpu_split runs servers too)
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=log,
    )
    served = Served(name, port, process)
    try:
        _wait_ready(served, ready_path, env.get("BENCH_TOKEN"))
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def serve_seatgate(
    name: str,
    url: str,
    *,
    workers: int,
    base_url: str = "http://127.0.0.1:1",
    secret_key: str | None = None,
    port: int | None = None,
) -> AbstractContextManager[Served]:
    """seatgate as the bench serves it: production settings on ``url``."""
    env = {
        "SEATGATE_ENV": "production",
        "SEATGATE_SECRET_KEY": secret_key or secrets.token_urlsafe(36),
        "SEATGATE_DATABASE_URL": url,
        "SEATGATE_BASE_URL": base_url,
        "SEATGATE_ALLOW_INSECURE_BASE_URL": "true",  # plain HTTP on loopback
        # One token drives far more than the production budget (12,000 a minute): a limit this
        # high keeps the limiter's work in every request without ever refusing one.
        "SEATGATE_LIMITS_REQUESTS_PER_MINUTE": str(10**9),
    }
    return gunicorn(
        name, "app.wsgi:application", env, workers=workers, ready_path="/healthz", port=port
    )


def serve_ceiling(name: str, *, workers: int) -> AbstractContextManager[Served]:
    """The bare Flask app answering a fixed User body: the framework's ceiling."""
    ready = f"/Users/{dataset.resource_id(0)}"
    return gunicorn(
        name, "bench.peers.flask_ceiling:application", {}, workers=workers, ready_path=ready
    )


def serve_scim2_server(
    name: str, *, users: int, token: str, workers: int
) -> AbstractContextManager[Served]:
    """scim2-server's in-memory store holding the first ``users`` bench users."""
    return gunicorn(
        name,
        "bench.peers.scim2_server_app:application",
        {"BENCH_USERS": str(users), "BENCH_TOKEN": token},
        workers=workers,
        ready_path="/v2/ServiceProviderConfig",
    )


def _wait_ready(served: Served, path: str, token: str | None) -> None:
    deadline = time.monotonic() + 180
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"{served.name} exited; see bench/out/{served.name}.log")
        try:
            connection = HTTPConnection("127.0.0.1", served.port, timeout=5)
            connection.request("GET", path, headers=headers)
            if connection.getresponse().status == 200:
                time.sleep(1)  # let the other workers finish booting too
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{served.name} did not answer {path}")


def wrk(
    url: str,
    mode: str,
    data_file: Path,
    token: str,
    prefix: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "20s",
        "-s",
        str(LUA),
        url,
        "--",
        mode,
        str(data_file),
        token,
        prefix,
    ]
    env = {**os.environ, "BENCH_WRK_THREADS": str(threads)}
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    return parsed


def measure(contender: str, scenario: str, users: int, result: dict[str, Any]) -> Measure:
    errors = sum(v for k, v in result.items() if k.startswith("errors_"))
    return Measure(
        contender=contender,
        scenario=scenario,
        users=users,
        requests=int(result["requests"]),
        seconds=result["duration_us"] / 1e6,
        errors=int(errors),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
    )


# --- databases ---------------------------------------------------------------------------


def fresh_database(
    engine: str, workdir: Path, postgres_url: str, *, name: str = BENCH_DATABASE
) -> str:
    """An empty, migrated database: a new SQLite file in ``workdir``, or the PostgreSQL
    database ``name`` on ``postgres_url``'s server, dropped and created again."""
    if engine == "sqlite":
        path = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        server = make_url(postgres_url)
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = server.set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    return url


def postgres_durability(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        settings = {
            name: str(connection.execute(text(f"SHOW {name}")).scalar())
            for name in ("synchronous_commit", "fsync", "wal_sync_method", "server_version")
        }
    engine.dispose()
    return settings


def analyze(url: str) -> None:
    """Fresh planner statistics after a bulk load, and on PostgreSQL the visibility map that
    lets an index be read without the table (index-only scans), as autovacuum would soon
    provide both."""
    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
        engine.dispose()
    else:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        engine.dispose()


# --- scenarios ---------------------------------------------------------------------------

SCENARIOS = ("get", "filter", "page", "post", "acs", "sync")


@dataclass(frozen=True)
class Contender:
    """A server under load: where it listens, its SCIM root, its token and its users."""

    name: str
    served: Served
    prefix: str
    token: str
    data: Path
    users: int
    scenarios: tuple[str, ...] = ("get", "filter", "page", "post")


@dataclass
class Bench:
    args: argparse.Namespace
    report: Report
    workdir: Path

    def run_wrk(
        self, served: Served, mode: str, data: Path, token: str, prefix: str, seconds: int
    ) -> dict[str, Any]:
        return wrk(
            served.url,
            mode,
            data,
            token,
            prefix,
            seconds=seconds,
            connections=self.args.connections,
            threads=self.args.threads,
        )

    def warm_up(self, contenders: list[Contender]) -> None:
        """Unmeasured reads first: a fresh worker's first requests pay one-time costs."""
        for c in contenders:
            for scenario in ("get", "filter"):
                if scenario in c.scenarios:
                    self.run_wrk(c.served, scenario, c.data, c.token, c.prefix, 1)

    def interleaved(self, engine: str, scenario: str, contenders: list[Contender]) -> None:
        """Run each contender ``rounds`` times, alternating; keep each one's median round."""
        results: list[list[Measure]] = [[] for _ in contenders]
        for _ in range(self.args.rounds):
            for c, measures in zip(contenders, results, strict=True):
                result = self.run_wrk(
                    c.served, scenario, c.data, c.token, c.prefix, self.args.seconds
                )
                measures.append(measure(c.name, scenario, c.users, result))
        for measures in results:
            ranked = sorted(measures, key=lambda m: m.rate)
            self.report.add(engine, ranked[len(ranked) // 2])

    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(36))


def acs_bodies(path: Path, responses: list[str]) -> Path:
    path.write_text(
        "".join(f"SAMLResponse={urllib.parse.quote(encoded, safe='')}\n" for encoded in responses)
    )
    return path


def _stock_worker(job: tuple[dict[str, Any], str, str, list[str]]) -> tuple[int, float]:
    settings, base_url, slug, responses = job
    return bench_saml.stock_process_responses(settings, base_url, slug, responses)


def _validation_worker(job: tuple[str, str, str, str, list[str]]) -> tuple[int, float]:
    return bench_saml.seatgate_validate_responses(*job)


def in_processes(
    worker: Callable[[Any], tuple[int, float]],
    jobs: Callable[[list[str]], Any],
    responses: list[str],
    processes: int,
) -> tuple[float, float, int]:
    """Split ``responses`` over ``processes`` fresh processes: (responses/s, ms each, accepted)."""
    shares = [responses[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        started = time.perf_counter()
        results = list(pool.map(worker, [jobs(share) for share in shares]))
        elapsed = time.perf_counter() - started
    accepted = sum(ok for ok, _ in results)
    per_response = statistics.mean(
        seconds / len(share) for (_, seconds), share in zip(results, shares, strict=True)
    )
    return len(responses) / elapsed, per_response * 1000, accepted


def initial_sync(
    url: str, token: str, users: int, clients: int, limit: float
) -> tuple[float, int, int]:
    """Create ``users`` through SCIM from ``clients`` concurrent clients, giving up after
    ``limit`` seconds: (seconds, users created, failures)."""
    parsed = urllib.parse.urlsplit(url)
    queue = iter(range(users))
    lock = threading.Lock()
    created = [0]
    failures = [0]
    started = time.perf_counter()

    def client() -> None:
        while time.perf_counter() - started < limit:
            with lock:
                i = next(queue, None)
            if i is None:
                return
            body = dataset.new_user(i, f"sync{i:06d}@sync.example.com")
            connection = HTTPConnection(parsed.hostname or "", parsed.port, timeout=60)
            connection.request(
                "POST",
                "/scim/v2/Users",
                body=json.dumps(body),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/scim+json",
                },
            )
            response = connection.getresponse()
            response.read()
            connection.close()
            with lock:
                if response.status == 201:
                    created[0] += 1
                else:
                    failures[0] += 1

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, created[0], failures[0]


@dataclass(frozen=True)
class BenchOrganization:
    """One organization of the run: its users, its SAML settings and its users file."""

    loaded: load.LoadedOrganization
    users: int
    index: Path
    metadata: str
    saml_settings: dict[str, Any]


def run_engine(bench: Bench, engine: str, peers: dict[str, Served], idp_keys: Any) -> None:
    """One database holding one organization per size; one seatgate server for all of them,
    so the sizes are measured interleaved, under the same load."""
    args = bench.args
    report = bench.report
    url = fresh_database(engine, bench.workdir, args.postgres_url)
    if engine == "postgresql":
        report.facts["postgresql"] = postgres_durability(url)
    database = Database(DatabaseSettings(url=url))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"  # seatgate's base_url: the SAML Destination
    organizations = []
    for users in args.sizes:
        domain = f"u{users}.{dataset.DOMAIN}"
        loaded = load.create_bench_organization(database, f"bench-{users}", seats=10, domain=domain)
        started = time.perf_counter()
        load.load_users(database, loaded, users)
        report.facts[f"{engine}_load_{users}_seconds"] = round(time.perf_counter() - started, 1)
        print(
            f"{engine}: {users} users loaded in {report.facts[f'{engine}_load_{users}_seconds']} s"
        )
        metadata, saml_settings = bench_saml.configure_idp(
            database, loaded.slug, base_url=base_url, secret_key=bench.secret_key, keys=idp_keys
        )
        index = dataset.write_index(bench.workdir / f"users-{users}.txt", users, domain)
        organizations.append(BenchOrganization(loaded, users, index, metadata, saml_settings))
    analyze(url)
    scim2_index = dataset.write_index(bench.workdir / "peer-users.txt", args.peer_users)
    with serve_seatgate(
        f"seatgate-{engine}",
        url,
        workers=args.workers,
        base_url=base_url,
        secret_key=bench.secret_key,
        port=port,
    ) as seatgate:
        ours = [
            Contender("seatgate", seatgate, "/scim/v2", o.loaded.scim_token, o.index, o.users)
            for o in organizations
        ]
        scim2 = Contender(
            "scim2-server",
            peers["scim2-server"],
            "/v2",
            args.peer_token,
            scim2_index,
            args.peer_users,
        )
        flask = Contender(
            "flask-ceiling", peers["flask"], "", "-", scim2_index, 0, scenarios=("get",)
        )
        bench.warm_up([*ours, scim2, flask])
        if "get" in args.scenarios:
            bench.interleaved(engine, "get", [*ours, scim2, flask])
        for scenario in ("filter", "page", "post"):
            if scenario in args.scenarios:
                bench.interleaved(engine, scenario, [*ours, scim2])
        for organization in organizations if "acs" in args.scenarios else []:
            run_acs(bench, url, engine, seatgate, organization, base_url, idp_keys)
        rss = seatgate.worker_rss_mb()
        total = sum(args.sizes)
        report.facts[f"{engine}_rss_mb_per_worker"] = [round(r, 1) for r in rss]
        report.facts["rss_database_users"] = total
        print(f"  seatgate worker RSS, {total} users in the database: {[round(r) for r in rss]} MB")
        if "sync" in args.scenarios:
            run_sync(bench, engine, database, seatgate)
    for organization in organizations:
        with database.unit_of_work(write=False) as session:
            checked = recount(session, organization.loaded.organization_id)
        report.facts[f"{engine}_recount_consistent_{organization.users}"] = checked.consistent
        print(f"{engine}: {organization.loaded.slug} recount consistent: {checked.consistent}")
    database.dispose()


def run_acs(
    bench: Bench,
    url: str,
    engine: str,
    seatgate: Served,
    organization: BenchOrganization,
    base_url: str,
    idp_keys: Any,
) -> None:
    """seatgate's ACS over HTTP, the stock python3-saml ACS and seatgate's validation step
    alone, on responses made for this organization's users."""
    args = bench.args
    count = args.acs_responses
    slug, users, domain = organization.loaded.slug, organization.users, organization.loaded.domain
    picks = (random.randrange(users) for _ in range(count * args.rounds))  # noqa: S311
    emails = [dataset.user_name(i, domain) for i in picks]
    started = time.perf_counter()
    responses = bench_saml.make_responses(
        idp_keys,
        organization.metadata,
        base_url=base_url,
        slug=slug,
        emails=emails,
        workers=args.workers,
    )
    print(f"  {len(responses)} signed responses made in {time.perf_counter() - started:.1f} s")
    settings = organization.saml_settings
    stock_rates = []
    validation_rates = []
    ours: list[Measure] = []
    for round_index in range(args.rounds):
        batch = responses[round_index * count : (round_index + 1) * count]
        sample = batch[: args.stock_sample]
        rate, per_ms, accepted = in_processes(
            _stock_worker, lambda share: (settings, base_url, slug, share), sample, args.workers
        )
        if accepted != len(sample):
            raise RuntimeError(f"stock process_response refused {len(sample) - accepted}")
        stock_rates.append((rate, per_ms))
        validation_rates.append(
            in_processes(
                _validation_worker,
                lambda share: (url, base_url, slug, bench.secret_key, share),
                sample,
                args.workers,
            )[:2]
        )
        bodies = acs_bodies(bench.workdir / f"acs-{engine}-{users}-{round_index}.txt", batch)
        result = bench.run_wrk(seatgate, "acs", bodies, "-", f"/sso/{slug}/acs", args.seconds)
        if result["exhausted"]:  # the refusals of the extra requests would inflate the rate
            raise RuntimeError(
                f"the {count} signed responses of a round ran out ({result['exhausted']} requests"
                " sent without one): raise --acs-responses"
            )
        ours.append(measure("seatgate", "acs", users, result))
    for name, rates in (("python3-saml", stock_rates), ("seatgate-check", validation_rates)):
        rate, per_ms = sorted(rates)[len(rates) // 2]
        bench.report.add(
            engine, Measure(name, "acs", users, int(rate * 1000), 1000.0, 0, per_ms, per_ms)
        )
    bench.report.add(engine, sorted(ours, key=lambda m: m.rate)[len(ours) // 2])


def run_sync(bench: Bench, engine: str, database: Database, seatgate: Served) -> None:
    args = bench.args
    organization = load.create_bench_organization(database, "sync", seats=args.sync_users)
    seconds, created, failures = initial_sync(
        seatgate.url, organization.scim_token, args.sync_users, 8, args.sync_limit
    )
    bench.report.facts[f"{engine}_initial_sync"] = {
        "users": args.sync_users,
        "clients": 8,
        "created": created,
        "seconds": round(seconds, 1),
        "failures": failures,
        "projected_seconds": round(seconds * args.sync_users / max(created, 1), 1),
    }
    print(
        f"  initial sync: {created} of {args.sync_users} users by 8 clients in {seconds:.1f} s"
        f" ({created / seconds:.0f}/s), {failures} failures"
    )


# --- the whole run -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--peer-users", type=int, default=10000)
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="a subset to measure while iterating (a recorded run measures them all)",
    )
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved runs per contender")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, every contender")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--acs-responses",
        type=int,
        default=5000,
        help="per round: more than the ACS can take in --seconds (a run that runs out fails)",
    )
    parser.add_argument("--stock-sample", type=int, default=600)
    parser.add_argument("--sync-users", type=int, default=10000)
    parser.add_argument(
        "--sync-limit", type=float, default=75.0, help="seconds before the initial sync stops"
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("SEATGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.peer_token = secrets.token_urlsafe(24)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    report = Report(
        machine=machine(), settings={k: v for k, v in vars(args).items() if k != "peer_token"}
    )
    print(json.dumps(report.machine), flush=True)
    with tempfile.TemporaryDirectory(prefix="seatgate-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(args, report, workdir)
        idp_keys = bench_saml.new_keys(workdir)
        with (
            serve_scim2_server(
                "scim2-server", users=args.peer_users, token=args.peer_token, workers=args.workers
            ) as scim2,
            serve_ceiling("flask", workers=args.workers) as flask,
        ):
            peers = {"scim2-server": scim2, "flask": flask}
            for engine in args.engines:
                run_engine(bench, engine, peers, idp_keys)
    report.machine["load_average_at_end"] = os.getloadavg()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out / f"results-{stamp}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    from bench.summary import summarize

    summary = summarize(asdict(report))
    (out / f"results-{stamp}.md").write_text(summary)
    print(summary)
    print(f"raw results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
