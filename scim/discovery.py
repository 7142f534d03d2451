"""Discovery documents (RFC 7644 section 4): what this server does, and nothing more.

Bulk, password changes and the ``groups`` attribute are not supported yet, and say so; the
filter's ``maxResults`` is the page size the list endpoint really enforces.
"""

from __future__ import annotations

from typing import Any

from scim import attributes as attrs

MAX_RESULTS = 200


def service_provider_config(base: str) -> dict[str, Any]:
    return {
        "schemas": [attrs.SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": (
                    "A per-organization token from `seatgate token create`, sent as "
                    "'Authorization: Bearer <token>'."
                ),
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}/ServiceProviderConfig",
        },
    }


def resource_types(base: str) -> dict[str, dict[str, Any]]:
    return {
        "User": {
            "schemas": [attrs.RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account; an active user holds one seat.",
            "schema": attrs.CORE_USER,
            "schemaExtensions": [{"schema": attrs.ENTERPRISE_USER, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        }
    }


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {
        "schemas": [attrs.LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start,
        "Resources": resources,
    }
