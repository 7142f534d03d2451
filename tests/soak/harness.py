"""The multi-instance soak: two seatgate instances behind nginx on one PostgreSQL, under load
and injected faults, then the invariants.

``python -m tests.soak.harness --seconds 120`` (``make soak``) runs the long form; the test
suite runs a short one (tests/soak/test_soak.py). The run:

1. starts its own PostgreSQL cluster, an SMTP server (aiosmtpd), two gunicorn instances
   (config/gunicorn.conf.py) and nginx (config/nginx-seatgate.conf), all on 127.0.0.1;
2. opens an organization with fewer free seats than the load will try to take, its SAML IdP
   (pysaml2) and a SCIM token, and provisions some inactive users;
3. runs SCIM creates, deactivations, reactivations and SSO just-in-time sign-ins from several
   processes while it SIGKILLs one instance and restarts it, restarts PostgreSQL, and stops
   and restarts the SMTP server;
4. checks: no seat oversold at any instant (I1, from every ledger event and the final
   counters), counters equal the recount (``seatgate ledger verify``, I4), every refusal 403
   in its protocol's form, no 5xx outside the fault windows and no hung request, and every
   alert e-mail delivered exactly once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from app import create_app, database_of
from app.migrations_runner import upgrade_database
from app.models import Role
from app.organizations import get_organization
from app.scim_tokens import create_token
from tests.app.alerts.peers import SmtpServer
from tests.factories import OPERATOR, add_users, make_org
from tests.soak import load
from tests.soak.processes import Instance, Nginx, PostgresCluster, wait_until
from tests.sso.conftest import configure_org
from tests.sso.idp import make_key_pair

SLUG = "soak"
SECRET_KEY = "soak-harness-secret-key-0123456789abcdef"
WORKERS_PER_INSTANCE = 2
FAULT_GRACE = 4.0  # seconds after a fault ends during which 5xx may still be answered


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0


@dataclass
class Report:
    seats: int
    answers: list[load.Answer]
    faults: list[Fault]
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        statuses = Counter(f"{a.kind}:{a.status}" for a in self.answers)
        return {
            "seats": self.seats,
            "requests": len(self.answers),
            "answers": dict(sorted(statuses.items())),
            "faults": [
                {"name": f.name, "seconds": round(f.ended - f.started, 2)} for f in self.faults
            ],
            **self.facts,
            "problems": self.problems,
        }


@dataclass
class Stack:
    """Everything one run starts; stopped in reverse order by :func:`running_stack`."""

    directory: Path
    postgres: PostgresCluster
    smtp: SmtpServer
    instances: list[Instance]
    nginx: Nginx


@contextmanager
def running_stack(directory: Path, redis_url: str = "") -> Iterator[Stack]:
    with ExitStack() as stack:
        postgres = PostgresCluster(directory)
        postgres.start()
        stack.callback(postgres.stop)
        postgres.create_database()
        upgrade_database(postgres.url)
        smtp = SmtpServer()
        smtp.start()
        stack.callback(smtp.stop)
        nginx_port_holder = Nginx(directory, [])
        environment = {
            "SEATGATE_ENV": "production",
            "SEATGATE_SECRET_KEY": SECRET_KEY,
            "SEATGATE_BASE_URL": nginx_port_holder.url,
            "SEATGATE_ALLOW_INSECURE_BASE_URL": "true",  # nginx on loopback, plain HTTP
            "SEATGATE_DATABASE_URL": postgres.url,
            "SEATGATE_DATABASE_POOL_SIZE": "4",
            "SEATGATE_DATABASE_CONNECT_TIMEOUT": "2",
            "SEATGATE_DATABASE_STATEMENT_TIMEOUT": "10",
            "SEATGATE_DATABASE_RETRY_AFTER": "1",
            "SEATGATE_SMTP_URL": smtp.url,
            "SEATGATE_SMTP_TIMEOUT": "5",
            "SEATGATE_ALERTS_POLL_INTERVAL": "1",
            "SEATGATE_ALERTS_RETRY_BASE_SECONDS": "1",
            "SEATGATE_ALERTS_RETRY_MAX_SECONDS": "2",
            "SEATGATE_ALERTS_LEASE_SECONDS": "10",
            "SEATGATE_ALERTS_WEBHOOK_TIMEOUT": "5",  # the lease must outlast a send
            "SEATGATE_LIMITS_REQUESTS_PER_MINUTE": "100000",
            "SEATGATE_REDIS_URL": redis_url,
            "SEATGATE_SERVER_WORKERS": str(WORKERS_PER_INSTANCE),
            "SEATGATE_LOG_LEVEL": "WARNING",
        }
        instances = [Instance(name, environment, directory) for name in ("a", "b")]
        for instance in instances:
            instance.start()
            stack.callback(instance.stop)
        nginx = Nginx(directory, [i.port for i in instances], port=nginx_port_holder.port)
        nginx.start()
        stack.callback(nginx.stop)
        yield Stack(directory, postgres, smtp, instances, nginx)


@dataclass
class Organization:
    token: str
    inactive_ids: tuple[str, ...]
    idp_key: Path
    idp_cert: Path


def open_organization(stack: Stack, seats: int, inactive: int) -> Organization:
    """The organization under test, through the same domain functions the CLI uses."""
    flask_app = create_app(
        {
            "env": "production",
            "secret_key": SECRET_KEY,
            "base_url": stack.nginx.url,
            "allow_insecure_base_url": True,
            "database": {"url": stack.postgres.url},
        }
    )
    database = database_of(flask_app)
    make_org(database, SLUG, seats=seats, term_start=dt.date.today().replace(day=1))
    add_users(database, SLUG, [f"second-owner@{SLUG}.example.com"], Role.OWNER)
    keys = make_key_pair(stack.directory, "idp")
    configure_org(database, flask_app, SLUG, [keys.certificate])
    with database.unit_of_work() as session:
        token = create_token(
            session, get_organization(session, SLUG), label="soak", actor=OPERATOR
        ).secret
    database.dispose()
    ids = []
    for number in range(inactive):
        email = f"dormant-{number}@{SLUG}.example.com"
        answer = requests.post(
            f"{stack.nginx.url}/scim/v2/Users",
            json={"userName": email, "emails": [{"value": email}], "active": False},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    return Organization(token, tuple(ids), keys.key_file, keys.cert_file)


def inject_faults(stack: Stack, seconds: float, faults: list[Fault]) -> None:
    """SIGKILL + restart an instance, restart PostgreSQL, stop + start SMTP, spread over the run."""
    beat = seconds / 8

    def window(name: str, start: Callable[[], None], end: Callable[[], None], hold: float) -> None:
        fault = Fault(name, time.time())
        faults.append(fault)
        start()
        time.sleep(hold)
        end()
        fault.ended = time.time()

    time.sleep(beat)
    victim = stack.instances[0]
    window("sigkill instance a", victim.kill, victim.start, beat)
    time.sleep(beat)
    window("restart postgresql", lambda: None, stack.postgres.restart, 0)
    time.sleep(beat)
    window("smtp down", stack.smtp.stop, stack.smtp.start, beat)


def run(seconds: float, seats: int, workers: int, redis_url: str = "") -> Report:
    with tempfile.TemporaryDirectory(prefix="seatgate-soak-") as temp:
        directory = Path(temp)
        os.chmod(directory, 0o711)  # noqa: S103 - the postgres account traverses to its data
        with running_stack(directory, redis_url) as stack:
            organization = open_organization(stack, seats, inactive=seats)
            plan = load.Plan(
                base_url=stack.nginx.url,
                slug=SLUG,
                token=organization.token,
                seconds=seconds,
                pause=0.05,
                minimum=2 * seats,
                directory=str(directory),
                idp_key=str(organization.idp_key),
                idp_cert=str(organization.idp_cert),
                inactive_ids=organization.inactive_ids,
            )
            jobs: list[tuple[Callable[[load.Plan, str], list[load.Answer]], str]] = [
                (load.scim_reactivate, "reactivator"),
                (load.sso_just_in_time, "jit"),
            ]
            jobs += [(load.scim_churn, f"scim{n}") for n in range(max(1, workers - 2))]
            faults: list[Fault] = []
            injector = threading.Thread(target=inject_faults, args=(stack, seconds, faults))
            context = multiprocessing.get_context("spawn")
            with context.Pool(len(jobs)) as pool:
                pending = [pool.apply_async(job, (plan, name)) for job, name in jobs]
                wait_until(
                    lambda: all((directory / f"ready-{name}").exists() for _, name in jobs),
                    120,
                    "load workers",
                )
                (directory / load.START_FILE).write_text(str(time.time()))
                injector.start()
                answers = [a for result in pending for a in result.get(timeout=seconds + 300)]
            injector.join()
            report = Report(seats, answers, faults)
            check(stack, report)
            return report


def check(stack: Stack, report: Report) -> None:
    problems = report.problems
    engine = create_engine(stack.postgres.url)
    try:
        with engine.connect() as connection:
            oversold = connection.scalar(
                text("SELECT count(*) FROM seat_events WHERE assigned_after > purchased_after")
            )
            pool = connection.execute(text("SELECT purchased, assigned FROM seat_pools")).one()
            holders = connection.scalar(text("SELECT count(*) FROM seat_assignments"))
        report.facts["seats_at_end"] = {"purchased": pool.purchased, "assigned": pool.assigned}
        if oversold:
            problems.append(f"I1: {oversold} ledger events show more seats assigned than bought")
        if pool.assigned > pool.purchased or holders != pool.assigned:
            problems.append(f"I1/I3: pool {tuple(pool)}, {holders} assignment rows")
        verify = subprocess.run(
            [str(Path(sys.executable).with_name("seatgate")), "ledger", "verify", "--no-alert"],
            env={**os.environ, "SEATGATE_DATABASE_URL": stack.postgres.url, "SEATGATE_ENV": "test"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        verified = json.loads(verify.stdout) if verify.stdout.strip() else {}
        report.facts["ledger_verify"] = verified
        if verify.returncode != 0 or verified.get("checked") != 1 or not verified["consistent"]:
            problems.append(
                f"I4: ledger verify exited {verify.returncode}: {verify.stdout} {verify.stderr}"
            )
        check_answers(report)
        check_alerts(stack, engine, report)
    finally:
        engine.dispose()


def check_answers(report: Report) -> None:
    windows = [(f.started - 0.5, (f.ended or f.started) + FAULT_GRACE) for f in report.faults]

    def during_fault(answer: load.Answer) -> bool:
        """Whether the request was in flight at some moment of a fault (on a slow machine a
        request sent before a SIGKILL may still be on the killed instance when it dies)."""
        until = max(answer.at, answer.until)
        return any(answer.at <= end and start <= until for start, end in windows)

    for answer in report.answers:
        if answer.status == load.HANG:
            report.problems.append(f"hang: {answer}")
        elif answer.status == 503 and not answer.in_form:
            report.problems.append(f"503 without Retry-After: {answer}")
        elif (answer.status >= 500 or answer.status == load.BROKEN) and not during_fault(answer):
            report.problems.append(f"5xx outside a fault: {answer}")
        elif answer.status == 403 and not answer.in_form:
            report.problems.append(f"refusal not in protocol form: {answer}")
        elif not acceptable(answer):
            report.problems.append(f"unexpected answer: {answer}")
    refused = sum(1 for a in report.answers if a.status == 403)
    taken = sum(1 for a in report.answers if a.status in (201, 303) or
                (a.kind == "reactivate" and a.status == 200))  # fmt: skip
    report.facts["refusals"] = refused
    if not refused or not taken:
        report.problems.append(
            f"the load did not contend for seats ({taken} taken, {refused} refused)"
        )


EXPECTED = {
    "create": {201, 403},
    "deactivate": {200},
    "reactivate": {200, 403},
    "sign_in_start": {302},
    "sign_in": {303, 403},
}


def acceptable(answer: load.Answer) -> bool:
    if answer.status >= 500 or answer.status == load.BROKEN:
        return True  # judged by the fault windows
    allowed = EXPECTED[answer.kind]
    if answer.retried and answer.kind == "create":
        allowed = allowed | {409}  # the first attempt was applied before its answer was lost
    return answer.status in allowed


def check_alerts(stack: Stack, engine: Any, report: Report) -> None:
    """Close the refusal digest's window, wait for the outbox to drain, count the e-mails."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE alerts SET deliverable_at = now() WHERE status = 'collecting'")
        )
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.scalar(
                text(
                    "SELECT (SELECT count(*) FROM alerts WHERE status <> 'dispatched') + "
                    "(SELECT count(*) FROM alert_deliveries WHERE status = 'pending')"
                )
            )
        if not waiting:
            break
        time.sleep(0.5)
    with engine.connect() as connection:
        sent = connection.scalar(
            text(
                "SELECT count(*) FROM alert_deliveries WHERE channel = 'email' AND status = 'sent'"
            )
        )
        alerts = connection.scalar(text("SELECT count(*) FROM alerts"))
        retried = connection.execute(
            text(
                "SELECT id, attempts, last_error, created_at, sent_at FROM alert_deliveries "
                "WHERE attempts > 1 ORDER BY id"
            )
        ).all()
    report.facts["deliveries_retried"] = [
        {"id": r.id, "attempts": r.attempts, "last_error": r.last_error,
         "created": str(r.created_at), "sent": str(r.sent_at)}
        for r in retried
    ]  # fmt: skip
    if waiting:
        report.problems.append(f"{waiting} alerts or deliveries still waiting after the run")
    ids = Counter(str(r.message["Message-ID"]) for r in stack.smtp.received)
    twice = {k: v for k, v in ids.items() if v > 1}
    report.facts["alerts"] = {
        "alerts": alerts,
        "emails_sent": sent,
        "emails_received": len(ids),
        "received_twice": twice,
    }
    # Delivery is at least once: a worker SIGKILLed after the SMTP server took a message and
    # before it recorded so resends that one message (same Message-ID, which receivers use to
    # drop it). Each of the killed instance's workers can be caught so at most once.
    if len(twice) > WORKERS_PER_INSTANCE or any(count > 2 for count in twice.values()):
        report.problems.append(f"alert e-mails received more than once: {twice}")
    if len(ids) != sent:
        report.problems.append(f"{sent} e-mail deliveries marked sent, {len(ids)} received")
    if not alerts:
        report.problems.append("the run raised no alert at all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seats", type=int, default=12)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--redis-url", default=os.environ.get("SEATGATE_REDIS_URL", ""))
    options = parser.parse_args()
    report = run(options.seconds, options.seats, options.workers, options.redis_url)
    print(json.dumps(report.summary(), indent=2, default=str))
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
