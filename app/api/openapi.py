"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of this API."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from app import settings_of
from app.api import blueprint

_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "detail": {}},
    "required": ["error"],
}
_LINE = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "quantity": {"type": "integer"},
        "months": {"type": "integer"},
        "unit_price_minor": {"type": "integer"},
        "unit_price": {"type": "string", "description": "decimal string, e.g. 30.00"},
        "amount_minor": {"type": "integer"},
        "amount": {"type": "string"},
    },
}
_QUOTE = {
    "type": "object",
    "properties": {
        "currency": {"type": "string"},
        "priced_on": {"type": "string", "format": "date"},
        "term_start": {"type": "string", "format": "date"},
        "term_end": {"type": "string", "format": "date"},
        "lines": {"type": "array", "items": _LINE},
        "total_minor": {"type": "integer"},
        "total": {"type": "string"},
    },
}
_INVOICE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": "string"},
        "issued_at": {"type": "string", "format": "date-time"},
        "purchaser": {"type": "string"},
        **_QUOTE["properties"],  # type: ignore[dict-item]
    },
}
_QUANTITY_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"quantity": {"type": "integer", "minimum": 1, "maximum": 10000}},
                "required": ["quantity"],
                "additionalProperties": False,
            }
        }
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input",
        401: "No valid bearer token",
        403: "Not allowed (only the Primary Owner buys; plan not eligible)",
        404: "Not found (also for Admins and Users: billing is invisible to them)",
        409: "Idempotency key reused for another purchase, or the term has ended",
    }
    return {
        str(code): {
            "description": text[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document(server_url: str) -> dict[str, Any]:
    read = _errors(401, 404)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "seatgate billing API",
            "version": "1",
            "description": "Seats, prorated purchases, invoices, members and alerts of one "
            "organization, for its Owners and Primary Owner.",
        },
        "servers": [{"url": server_url.rstrip("/") + "/api/v1"}],
        "components": {
            "securitySchemes": {
                "session": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The gateway session token issued at SSO sign-in.",
                }
            }
        },
        "security": [{"session": []}],
        "paths": {
            "/orgs/{slug}/seats": {
                "get": {
                    "summary": "Seats purchased, assigned and free; contract and renewal",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Seat usage", {"type": "object"}), **read},
                }
            },
            "/orgs/{slug}/seats/quote": {
                "post": {
                    "summary": "Price an increase (prorated to the end of the term); buys nothing",
                    "parameters": [_SLUG],
                    "requestBody": _QUANTITY_BODY,
                    "responses": {
                        "200": _json("Quote", _QUOTE),
                        **_errors(400, 401, 403, 404, 409),
                    },
                }
            },
            "/orgs/{slug}/seats/purchase": {
                "post": {
                    "summary": "Add seats; the invoice is issued at once (Primary Owner only)",
                    "parameters": [
                        _SLUG,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 255},
                        },
                    ],
                    "requestBody": _QUANTITY_BODY,
                    "responses": {
                        "201": _json("Invoice issued", _INVOICE),
                        "200": _json("Replay of an earlier purchase with this key", _INVOICE),
                        **_errors(400, 401, 403, 404, 409),
                    },
                }
            },
            "/orgs/{slug}/invoices": {
                "get": {
                    "summary": "Invoices, newest first",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Invoices", {"type": "object"}), **read},
                }
            },
            "/orgs/{slug}/invoices/{invoice_id}": {
                "get": {
                    "summary": "One invoice with its lines",
                    "parameters": [
                        _SLUG,
                        {
                            "name": "invoice_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        },
                    ],
                    "responses": {"200": _json("Invoice", _INVOICE), **read},
                }
            },
            "/orgs/{slug}/members": {
                "get": {
                    "summary": "Members with role, seat and status",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Members", {"type": "object"}), **read},
                }
            },
            "/orgs/{slug}/alerts": {
                "get": {
                    "summary": "Recent alerts, newest first",
                    "parameters": [
                        _SLUG,
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],
                    "responses": {"200": _json("Alerts", {"type": "object"}), **read},
                }
            },
            "/orgs/{slug}/logs/sign-ins": {
                "get": {
                    "summary": "Sign-in connection log, newest first (Owners and Admins)",
                    "parameters": [_SLUG, *_LOG_QUERY, _query("outcome", {"type": "string"})],
                    "responses": {"200": _json("Sign-ins", {"type": "object"}), **read},
                }
            },
            "/orgs/{slug}/logs/scim": {
                "get": {
                    "summary": "SCIM request log, redacted, newest first (Owners and Admins)",
                    "parameters": [_SLUG, *_LOG_QUERY, _query("status", {"type": "integer"})],
                    "responses": {"200": _json("SCIM requests", {"type": "object"}), **read},
                }
            },
        },
    }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


_LOG_QUERY = [
    _query("failed", {"type": "string", "enum": ["1"]}),
    _query("before", {"type": "integer"}),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
]


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(settings_of(current_app).base_url))
