"""``/readyz``, ``/metrics`` (Prometheus) and the per-request access log.

Two kinds of metrics, kept apart on purpose:

- counters and histograms (HTTP requests by route and status, latency, SAML sign-in outcomes
  by reason), counted where they happen. Under gunicorn (``seatgate serve``, or gunicorn with
  ``app.serving``'s hooks) ``PROMETHEUS_MULTIPROC_DIR`` is set and prometheus_client's
  multiprocess mode keeps each worker's counts in a file there; ``/metrics`` sums the files,
  so any worker answers a scrape with the whole instance's figures, and a worker's counts
  outlive it. Without the directory (one process: tests, ``flask run``) the app's registry
  holds them in memory;
- figures read from the database at scrape time (seats per organization, refusals by source,
  the alert outbox), identical whichever instance answers, because the database is the truth
  shared by every instance. They are gauges of the moment, never stored per process, so they
  need no multiprocess mode of their own.

Every app gets its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from app import database_of
from app.db import Database
from app.migrations_runner import current_revision, head_revision
from app.models import (
    Alert,
    AlertDelivery,
    AlertStatus,
    DeliveryStatus,
    Organization,
    SeatEvent,
    SeatEventKind,
    SeatPool,
)
from app.serving import MULTIPROCESS_DIRECTORY
from app.web import request_id

EXTENSION = "seatgate.metrics"
log = logging.getLogger("seatgate.http")


class Metrics:
    """The app's registry and its in-process instruments."""

    def __init__(self, database: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "seatgate_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "seatgate_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            registry=self.registry,
        )
        self.sign_ins = Counter(
            "seatgate_saml_sign_ins",
            "SAML sign-ins at the ACS by outcome and, for refusals, the failed step",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector(database))
        self.scraped = self._scraped_registry(database)
        self._per_request: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _scraped_registry(self, database: Database) -> CollectorRegistry:
        """What ``/metrics`` reads: every worker's files and the database under gunicorn,
        else this process's registry."""
        if not os.environ.get(MULTIPROCESS_DIRECTORY):
            return self.registry
        scraped = CollectorRegistry()
        MultiProcessCollector(scraped)  # type: ignore[no-untyped-call]
        scraped.register(DatabaseCollector(database))
        return scraped

    def observe_request(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one request and its latency.

        The labelled children are looked up once per (route, method, status) and kept:
        ``labels()`` validates and locks on every call, a measurable share of a SCIM read.
        Routes are the app's URL rules (or one "(unmatched)"), so the set is bounded.
        """
        key = (route, method, status)
        children = self._per_request.get(key)
        if children is None:
            children = self._per_request[key] = (
                self.requests.labels(route, method, status),
                self.latency.labels(route, method),
            )
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)


def count_sign_in(outcome: str, reason: str) -> None:
    """Count one SAML sign-in (called by the SSO adapter when it logs the sign-in)."""
    metrics: Metrics = current_app.extensions[EXTENSION]
    metrics.sign_ins.labels(outcome=outcome, reason=reason).inc()


class DatabaseCollector(Collector):
    """Seat and outbox figures, read from the shared database at each scrape."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        purchased = GaugeMetricFamily(
            "seatgate_seats_purchased", "Seats purchased", labels=["organization"]
        )
        assigned = GaugeMetricFamily(
            "seatgate_seats_assigned", "Seats assigned", labels=["organization"]
        )
        free = GaugeMetricFamily("seatgate_seats_free", "Seats free", labels=["organization"])
        refusals = CounterMetricFamily(
            "seatgate_seat_refusals", "Seat claims refused, by source", labels=["source"]
        )
        outbox = GaugeMetricFamily(
            "seatgate_alert_outbox_depth",
            "Alerts not yet fanned out and deliveries not yet sent",
            labels=["stage"],
        )
        failures = CounterMetricFamily(
            "seatgate_alert_delivery_failures", "Failed alert delivery attempts"
        )
        failing = GaugeMetricFamily(
            "seatgate_alert_deliveries_failing", "Unsent deliveries whose last attempt failed"
        )
        with self.database.unit_of_work(write=False) as session:
            pools = session.execute(
                select(Organization.slug, SeatPool.purchased, SeatPool.assigned).join(
                    SeatPool, SeatPool.organization_id == Organization.id
                )
            )
            for slug, bought, used in pools:
                purchased.add_metric([slug], bought)
                assigned.add_metric([slug], used)
                free.add_metric([slug], bought - used)
            for source, number in session.execute(
                select(SeatEvent.source, func.count())
                .where(SeatEvent.kind == SeatEventKind.REFUSE.value)
                .group_by(SeatEvent.source)
            ):
                refusals.add_metric([source], number)
            waiting_alerts = session.scalar(
                select(func.count()).where(
                    Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.COLLECTING.value])
                )
            )
            outbox.add_metric(["alerts"], waiting_alerts or 0)
            pending = DeliveryStatus.PENDING.value
            unsent = session.scalar(select(func.count()).where(AlertDelivery.status == pending))
            outbox.add_metric(["deliveries"], unsent or 0)
            attempts, sent = session.execute(
                select(
                    func.coalesce(func.sum(AlertDelivery.attempts), 0),
                    func.count().filter(AlertDelivery.status == DeliveryStatus.SENT.value),
                )
            ).one()
            failures.add_metric([], int(attempts) - int(sent))
            failing.add_metric(
                [],
                session.scalar(
                    select(func.count()).where(
                        AlertDelivery.status == pending, AlertDelivery.attempts > 0
                    )
                )
                or 0,
            )
        yield from (purchased, assigned, free, refusals, outbox, failures, failing)


def init_app(flask_app: Flask) -> None:
    database = database_of(flask_app)
    metrics = Metrics(database)
    flask_app.extensions[EXTENSION] = metrics
    head = head_revision()

    @flask_app.before_request
    def _start_clock() -> None:
        g.request_started = time.perf_counter()

    @flask_app.after_request
    def _observe(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        current = request._get_current_object()  # type: ignore[attr-defined]
        rule = current.url_rule
        route = rule.rule if rule else "(unmatched)"
        method, status = current.method, response.status_code
        metrics.observe_request(route, method, str(status), elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "request_id": request_id(),
                    "method": method,
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 1),
                },
            )
        return response

    @flask_app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Ready for traffic: the database answers and its schema is the code's head."""
        try:
            with database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = current_revision(database.engine)
        except Exception:
            log.exception("readiness check failed", extra={"request_id": request_id()})
            return jsonify(status="unavailable", database="unreachable"), 503
        if current != head:
            return jsonify(
                status="unavailable",
                database="ok",
                migrations="pending",
                revision=current,
                head=head,
            ), 503
        return jsonify(status="ready", database="ok", migrations="current", revision=current), 200

    @flask_app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.scraped), mimetype=CONTENT_TYPE_LATEST)
