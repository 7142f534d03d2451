"""Domain errors. Each carries a stable ``code`` that adapters map to their protocol's format.

SCIM, SSO, the JSON API and the CLI each translate these in one place; none of them inspects
messages. Messages are written for the person who has to act on them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class SeatgateError(Exception):
    """Base of every expected, user-facing failure."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(SeatgateError):
    code = "invalid_input"


class NotFound(SeatgateError):
    code = "not_found"


class AlreadyExists(SeatgateError):
    code = "already_exists"


class NotPermitted(SeatgateError):
    code = "not_permitted"


class PlanNotEligible(SeatgateError):
    """R1: only annual, invoiced contracts manage seats."""

    code = "plan_not_eligible"


class IdempotencyConflict(SeatgateError):
    """The idempotency key was already used for a different purchase."""

    code = "idempotency_conflict"


class MemberInactive(SeatgateError):
    """I3: an inactive member holds no seat, so it cannot claim one."""

    code = "member_inactive"


@dataclass(frozen=True)
class RefusalContext:
    """What the owners need to know about a refused claim, kept after the rollback."""

    organization_id: int
    subject: str
    member_id: int | None
    actor: str
    source: str
    request_id: str | None


class SeatRefused(SeatgateError):
    """A claim found no seat it may take. Recorded (I8) even though the request fails."""

    code = "seat_refused"

    def __init__(self, message: str, *, context: RefusalContext, purchased: int, assigned: int):
        super().__init__(message)
        self.context = context
        self.purchased = purchased
        self.assigned = assigned


class NoFreeSeat(SeatRefused):
    code = "no_free_seat"


class ContractLapsed(SeatRefused):
    """A contract that does not auto-renew ended; nothing can be claimed until it is renewed."""

    code = "contract_lapsed"

    def __init__(
        self,
        message: str,
        *,
        context: RefusalContext,
        purchased: int,
        assigned: int,
        term_end: dt.date,
    ) -> None:
        super().__init__(message, context=context, purchased=purchased, assigned=assigned)
        self.term_end = term_end


class TermEnded(SeatgateError):
    """A purchase on a contract whose term is over (and that does not auto-renew)."""

    code = "term_ended"


class DomainNotAllowed(InvalidInput):
    """The organization restricts its members to its own e-mail domains; this one is not."""

    code = "domain_not_allowed"
