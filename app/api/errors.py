"""Domain errors as JSON API answers: one table, one handler."""

from __future__ import annotations

from flask import Response, jsonify
from marshmallow import ValidationError

from app import errors
from app.api import blueprint

STATUS_OF: dict[type[errors.SeatgateError], int] = {
    errors.InvalidInput: 400,
    errors.NotPermitted: 403,
    errors.PlanNotEligible: 403,
    errors.SeatRefused: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.IdempotencyConflict: 409,
    errors.TermEnded: 409,
}


def status_of(error: errors.SeatgateError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


@blueprint.errorhandler(errors.SeatgateError)
def _domain_error(error: errors.SeatgateError) -> tuple[Response, int]:
    return jsonify(error=error.code, detail=error.message), status_of(error)


@blueprint.errorhandler(ValidationError)
def _invalid_body(error: ValidationError) -> tuple[Response, int]:
    return jsonify(error="invalid_input", detail=error.messages), 400
