"""The connection log of one sign-in: each validation step as the ACS view meets it.

The ACS view opens a trail, marks steps as they pass; a refusal marks the step that failed
(with the ``error_id`` shown to the user). After the response is built the trail is written
in a transaction of its own, so a refused sign-in (whose own transaction rolled back) is
logged too. The trail never holds the SAML message, only outcomes and short details.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app, g

from app import connection_logs, database_of, observability
from app.connection_logs import Step

log = logging.getLogger("seatgate.sso")

# Checks python3-saml runs together; all passed once the response validates.
RESPONSE_CHECKS = ("message", "signature", "audience", "destination", "issuer", "validity")


@dataclass
class SignInTrail:
    organization_id: int | None = None
    subject: str | None = None
    test: bool = False
    steps: list[Step] = field(default_factory=list)
    outcome: str = "incomplete"
    error_id: str | None = None

    def passed(self, *names: str, detail: str = "") -> None:
        self.steps.extend(Step(name, passed=True, detail=detail) for name in names)

    def refused(self, step: str, detail: str, error_id: str) -> None:
        self.steps.append(Step(step, passed=False, detail=detail))
        self.outcome = "test_refused" if self.test else "refused"
        self.error_id = error_id


def begin() -> SignInTrail:
    trail = SignInTrail()
    g.sign_in_trail = trail
    return trail


def current() -> SignInTrail | None:
    trail: SignInTrail | None = g.get("sign_in_trail")
    return trail


def write(request_id: str) -> None:
    """Store the current trail, if it belongs to an organization. Never fails the request."""
    trail = current()
    if trail is None:
        return
    failed = [step.name for step in trail.steps if not step.passed]
    observability.count_sign_in(trail.outcome, failed[-1] if failed else "")
    if trail.organization_id is None:
        return
    try:
        with database_of(current_app).unit_of_work() as session:
            connection_logs.record_sign_in(
                session,
                trail.organization_id,
                steps=trail.steps,
                outcome=trail.outcome,
                subject=trail.subject,
                test=trail.test,
                request_id=request_id,
                error_id=trail.error_id,
            )
    except Exception:
        log.exception("could not write the sign-in log", extra={"request_id": request_id})
