"""Where the CPU of a request goes, over HTTP: seatgate's workers, the database server, the
load generator, beside the bare Flask ceiling.

``python -m bench.cpu_split [--engine postgresql|sqlite] [--scenario get|filter|post]
[--users N] [--seconds S] [--runs N] 2>/dev/null``

Why: the ratio to the ceiling is set by all the CPU a request costs on the machine's two
cores, not only by seatgate's Python. Profilers sample one process and, on a saturated
machine, count a thread waiting for a core as busy; the kernel's own accounting does not.
Each process's user and system time (``/proc/PID/stat``) is read before and after a ``wrk``
run and grouped: ``workers`` (gunicorn), ``database`` (PostgreSQL's backends; SQLite runs
inside the workers), ``wrk`` (the load generator, a child of this process: its time comes
from ``getrusage``), ``other`` (everything else on the machine). Each group's time is
divided by the requests served; "cores busy" is all of it over the run's wall time (2.0: the
machine was saturated, less: requests waited on something else, such as a commit's flush to
disk). Same gunicorn settings and load as ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.db import Database
from app.settings import DatabaseSettings
from bench import dataset, load
from bench.run import (
    DEFAULT_POSTGRES,
    analyze,
    fresh_database,
    serve_ceiling,
    serve_seatgate,
    wrk,
)

_TICKS = os.sysconf("SC_CLK_TCK")
DOMAIN = f"split.{dataset.DOMAIN}"


def _group(stat: str, command: str) -> str:
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    if name.startswith("postgres"):
        return "database"
    return "workers" if "gunicorn" in command else "other"


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """Every process's group and CPU seconds so far (processes that vanish are skipped)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = (_group(stat, command), (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class Split:
    """One ``wrk`` run: the rate, how busy the machine was, each group's CPU per request."""

    per_second: float
    busy: float
    per_request_us: dict[str, float]

    def line(self) -> str:
        groups = ", ".join(f"{g} {v:.0f}" for g, v in self.per_request_us.items())
        return (
            f"{self.per_second:,.0f} req/s, {self.busy:.2f} cores busy; "
            f"CPU µs per request: {groups}"
        )


def measured(url: str, mode: str, index: Path, token: str, prefix: str, seconds: int) -> Split:
    """One ``wrk`` run, refused if any request failed (a failed request costs less)."""
    before, wrk_before = _cpu_by_process(), _children_cpu()
    result = wrk(url, mode, index, token, prefix, seconds=seconds, connections=8, threads=2)
    after, wrk_spent = _cpu_by_process(), _children_cpu() - wrk_before
    failed = {k: v for k, v in result.items() if k.startswith("errors_") and v}
    if failed:
        raise RuntimeError(f"{url}{prefix} {mode}: requests failed: {failed}")
    spent = {"workers": 0.0, "database": 0.0, "other": 0.0}
    for pid, (group, cpu) in after.items():
        spent[group] += cpu - before.get(pid, (group, 0.0))[1]
    spent["wrk"] = wrk_spent
    requests = int(result["requests"])
    seconds_run = result["duration_us"] / 1e6
    return Split(
        per_second=requests / seconds_run,
        busy=sum(spent.values()) / seconds_run,
        per_request_us={g: v / requests * 1e6 for g, v in spent.items()},
    )


def load_organization(
    engine: str, workdir: Path, users: int, postgres_url: str
) -> tuple[str, load.LoadedOrganization, Path]:
    """A fresh bench database with one organization of ``users`` users, analyzed as a server
    in use would be: its URL, the organization, and the index file ``wrk`` picks users from."""
    url = fresh_database(engine, workdir, postgres_url)
    database = Database(DatabaseSettings(url=url))
    loaded = load.create_bench_organization(database, "bench-split", seats=10, domain=DOMAIN)
    load.load_users(database, loaded, users)
    database.dispose()
    analyze(url)
    return url, loaded, dataset.write_index(workdir / "users.txt", users, DOMAIN)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_split")
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--scenario", choices=("get", "filter", "post"), default="get")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="seatgate-split-"))
    url, loaded, index = load_organization(args.engine, workdir, args.users, args.postgres_url)
    token = loaded.scim_token
    with serve_seatgate("split-seatgate", url, workers=2) as s:
        wrk(s.url, args.scenario, index, token, "/scim/v2", seconds=2, connections=8, threads=2)
        for _ in range(args.runs):
            split = measured(s.url, args.scenario, index, token, "/scim/v2", args.seconds)
            print(f"seatgate {args.engine} {args.scenario}: {split.line()}")
    with serve_ceiling("split-ceiling", workers=2) as c:
        for _ in range(args.runs):
            print("bare Flask get: " + measured(c.url, "get", index, "-", "", args.seconds).line())


if __name__ == "__main__":
    main()
