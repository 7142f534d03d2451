"""The connection log of one sign-in: each validation step as the ACS view meets it.

The ACS view opens a trail, marks steps as they pass; a refusal marks the step that failed
(with the ``error_id`` shown to the user). A sign-in that succeeds writes its trail in the
transaction that admits the person (:func:`store_in`: one commit fewer per sign-in); any
other trail is written after the response is built, in a transaction of its own, so a
refused sign-in (whose own transaction rolled back) is logged too. The trail never holds the
SAML message, only outcomes and short details.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from flask import current_app, g
from sqlalchemy.orm import Session

from app import connection_logs, database_of, observability
from app.connection_logs import Step

log = logging.getLogger("seatgate.sso")

# Checks python3-saml runs together; all passed once the response validates.
RESPONSE_CHECKS = ("message", "signature", "audience", "destination", "issuer", "validity")
# The door's checks, all passed once the person is admitted.
ADMISSION_CHECKS = ("email", "domain", "member", "seat")


@dataclass
class SignInTrail:
    organization_id: int | None = None
    subject: str | None = None
    test: bool = False
    steps: list[Step] = field(default_factory=list)
    outcome: str = "incomplete"
    error_id: str | None = None
    stored: bool = False  # written with a committed transaction already

    def passed(self, *names: str, detail: str = "") -> None:
        self.steps.extend(Step(name, passed=True, detail=detail) for name in names)

    def admitted(self) -> SignInTrail:
        """This trail as it reads once the person is in: the door's steps passed."""
        admitted = replace(self, steps=list(self.steps), outcome="signed_in")
        admitted.passed(*ADMISSION_CHECKS)
        return admitted

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


def stored(trail: SignInTrail) -> None:
    """``trail`` (stored with a transaction that committed) is the request's trail now."""
    g.sign_in_trail = replace(trail, stored=True)


def store_in(session: Session, trail: SignInTrail, request_id: str) -> None:
    """Add the trail to ``session``'s transaction; the caller marks it ``stored`` once that
    transaction has committed (if it fails, :func:`write` still writes the trail)."""
    assert trail.organization_id is not None
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


def write(request_id: str) -> None:
    """Count the current trail's outcome and store the trail, if it belongs to an
    organization and is not stored yet. Never fails the request."""
    trail = current()
    if trail is None:
        return
    failed = [step.name for step in trail.steps if not step.passed]
    observability.count_sign_in(trail.outcome, failed[-1] if failed else "")
    if trail.organization_id is None or trail.stored:
        return
    try:
        with database_of(current_app).unit_of_work() as session:
            store_in(session, trail, request_id)
    except Exception:
        log.exception("could not write the sign-in log", extra={"request_id": request_id})
