"""SCIM errors (RFC 7644 section 3.12), and the one table that maps failures to them.

Adapter-level failures (a bad filter, a bad PATCH path, a stale ETag) are :class:`ScimError`
subclasses carrying their status and ``scimType`` as class data. Domain failures keep their
own classes; :data:`DOMAIN_ERRORS` says how each one looks in SCIM. :func:`to_scim` is the
only place that decides an error's status.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from app.errors import (
    AlreadyExists,
    ContractLapsed,
    InvalidInput,
    MemberInactive,
    NoFreeSeat,
    NotFound,
    NotPermitted,
    SeatgateError,
)
from scim.attributes import ERROR_SCHEMA


class ScimError(Exception):
    status = 400
    scim_type: str | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class Unauthorized(ScimError):
    status = 401


class ResourceNotFound(ScimError):
    status = 404


class MethodNotAllowed(ScimError):
    status = 405

    def __init__(self, detail: str, allowed: list[str]) -> None:
        super().__init__(detail)
        self.allowed = allowed


class PreconditionFailed(ScimError):
    status = 412


class UnsupportedMediaType(ScimError):
    status = 415


CONCURRENT_CHANGE = (
    "Another request changed the same user at the same time (a duplicate userName or e-mail); "
    "retry."
)

# Domain error class → (HTTP status, scimType). Looked up along the class's MRO, so a
# subclass gets its parent's mapping unless it has its own. A unique constraint that fires
# at commit means a concurrent request won the race the domain's own check could not see.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str | None]] = {
    IntegrityError: (409, "uniqueness"),
    NoFreeSeat: (403, "userLimitReached"),
    ContractLapsed: (403, "userLimitReached"),
    MemberInactive: (409, None),
    AlreadyExists: (409, "uniqueness"),
    InvalidInput: (400, "invalidValue"),
    NotFound: (404, None),
    NotPermitted: (403, None),
    SeatgateError: (400, None),
}


def to_scim(error: Exception) -> tuple[int, str | None, str]:
    """Status, scimType and detail of any expected failure."""
    if isinstance(error, ScimError):
        return error.status, error.scim_type, error.detail
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            status, scim_type = DOMAIN_ERRORS[cls]
            detail = error.message if isinstance(error, SeatgateError) else CONCURRENT_CHANGE
            return status, scim_type, detail
    raise TypeError(f"unmapped error {type(error).__name__}")  # pragma: no cover


def error_body(status: int, scim_type: str | None, detail: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body
