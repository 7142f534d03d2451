"""Per-organization alert policy: seat thresholds and the refusal digest's window.

Thresholds are percentages of purchased seats in use (default 80, 90, 95, 100) and optionally
a count of seats left. An organization without a policy row uses the defaults, so nothing has
to be configured for alerts to work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.models import AlertMark, AlertPolicy, utcnow

DEFAULT_PERCENTS = (80, 90, 95, 100)
DEFAULT_DIGEST_MINUTES = 15
MAX_THRESHOLDS = 10
MAX_DIGEST_MINUTES = 24 * 60
SEAT_MARK_PREFIX = "seats:"


@dataclass(frozen=True)
class Threshold:
    """One level of seat use; ``mark`` names it in ``alert_marks`` while it is crossed."""

    mark: str
    label: str
    percent: int | None = None
    seats_left: int | None = None

    def reached_at(self, purchased: int) -> int:
        """The number of assigned seats from which this threshold counts as crossed."""
        if self.percent is not None:
            return -(-self.percent * purchased // 100)  # ceiling, in integers
        return purchased - (self.seats_left or 0)

    def reached(self, purchased: int, assigned: int) -> bool:
        return assigned >= self.reached_at(purchased)


@dataclass(frozen=True)
class Policy:
    percents: tuple[int, ...]
    seats_left: int | None
    digest_minutes: int

    @property
    def digest_window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.digest_minutes)

    def thresholds(self) -> list[Threshold]:
        levels = [
            Threshold(f"{SEAT_MARK_PREFIX}percent:{p}", f"{p} % of seats in use", percent=p)
            for p in self.percents
        ]
        if self.seats_left is not None:
            left = self.seats_left
            label = "no seat left" if left == 0 else f"{left} or fewer seats left"
            levels.append(Threshold(f"{SEAT_MARK_PREFIX}left:{left}", label, seats_left=left))
        return levels

    def as_dict(self) -> dict[str, object]:
        return {
            "percents": list(self.percents),
            "seats_left": self.seats_left,
            "digest_minutes": self.digest_minutes,
        }


DEFAULT_POLICY = Policy(DEFAULT_PERCENTS, None, DEFAULT_DIGEST_MINUTES)


_policies = AlertPolicy.__table__
# Built once, read as plain columns: every seat claim asks for the policy, and loading an ORM
# object (or, with the default policy, missing one) was ~4 % of a SCIM create.
_POLICY = select(_policies.c.percents, _policies.c.seats_left, _policies.c.digest_minutes).where(
    _policies.c.organization_id == bindparam("organization_id")
)


def policy_of(session: Session, organization_id: int) -> Policy:
    # A plain read, which flushes nothing first: set_policy flushes what it changes, so this
    # read sees it.
    row = session.execute(_POLICY, {"organization_id": organization_id}).first()
    if row is None:
        return DEFAULT_POLICY
    return Policy(tuple(row.percents), row.seats_left, row.digest_minutes)


def set_policy(
    session: Session,
    organization_id: int,
    *,
    percents: tuple[int, ...],
    seats_left: int | None,
    digest_minutes: int,
) -> Policy:
    """Validate and store a policy; marks of thresholds it no longer has are dropped."""
    if not percents and seats_left is None:
        raise InvalidInput("Keep at least one threshold: a percentage or a number of seats left.")
    if len(percents) > MAX_THRESHOLDS:
        raise InvalidInput(f"At most {MAX_THRESHOLDS} percentage thresholds.")
    if any(not 1 <= p <= 100 for p in percents):
        raise InvalidInput("Percentage thresholds must be between 1 and 100.")
    if seats_left is not None and not 0 <= seats_left <= 1_000_000:
        raise InvalidInput("The seats-left threshold must be between 0 and 1000000.")
    if not 1 <= digest_minutes <= MAX_DIGEST_MINUTES:
        raise InvalidInput(f"The digest window must be 1-{MAX_DIGEST_MINUTES} minutes.")
    policy = Policy(tuple(sorted(set(percents))), seats_left, digest_minutes)
    row = session.get(AlertPolicy, organization_id)
    if row is None:
        row = AlertPolicy(organization_id=organization_id)
        session.add(row)
    row.percents = list(policy.percents)
    row.seats_left = policy.seats_left
    row.digest_minutes = policy.digest_minutes
    row.updated_at = utcnow()
    kept = [threshold.mark for threshold in policy.thresholds()]
    session.execute(
        delete(AlertMark).where(
            AlertMark.organization_id == organization_id,
            AlertMark.mark.startswith(SEAT_MARK_PREFIX),
            AlertMark.mark.not_in(kept),
        )
    )
    session.flush()
    return policy
