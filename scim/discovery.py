"""Discovery documents (RFC 7644 section 4): what this server does, and nothing more.

Password changes are not supported, and say so. The limits advertised are the ones enforced:
the filter's ``maxResults`` is the page size the list endpoints serve, ``bulk`` the operation
count and body size the Bulk endpoint accepts, ``pagination`` (RFC 9865) both paging methods.
"""

from __future__ import annotations

from typing import Any

from scim import attributes as attrs
from scim.paging import MAX_RESULTS


def service_provider_config(
    base: str, *, bulk_max_operations: int, bulk_max_payload: int
) -> dict[str, Any]:
    return {
        "schemas": [attrs.SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": bulk_max_operations,
            "maxPayloadSize": bulk_max_payload,
        },
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "pagination": {
            "cursor": True,
            "index": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": MAX_RESULTS,
            "maxPageSize": MAX_RESULTS,
        },
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
        },
        "Group": {
            "schemas": [attrs.RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group of users; holds no seats. Mapped names give roles.",
            "schema": attrs.CORE_GROUP,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    }
