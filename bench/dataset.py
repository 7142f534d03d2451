"""The benchmark's users: deterministic, so every contender serves exactly the same data.

User ``i`` has the same ``userName``, ``id`` and body in seatgate and in scim2-server, and the
load scripts pick from one list of (id, userName) pairs written by :func:`write_index`. Each
organization of a run has its own e-mail ``domain``, so its users (and their ids, unique
across the database) are its own.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
DOMAIN = "bench.example.com"
_NAMESPACE = uuid.UUID("5b0f7a58-3c1e-4d51-9a55-0d3a1f5e2c11")


def user_name(i: int, domain: str = DOMAIN) -> str:
    return f"user{i:06d}@{domain}"


def resource_id(i: int, domain: str = DOMAIN) -> str:
    return resource_id_for(user_name(i, domain))


def resource_id_for(name: str) -> str:
    """The ``id`` every contender gives the user called ``name``."""
    return str(uuid.uuid5(_NAMESPACE, name))


def given_name(i: int) -> str:
    return f"Given{i}"


def family_name(i: int) -> str:
    return f"Family{i}"


def display_name(i: int) -> str:
    return f"{given_name(i)} {family_name(i)}"


def scim_user(i: int, domain: str = DOMAIN) -> dict[str, Any]:
    """User ``i`` as an identity provider sends it (Okta's shape)."""
    return {
        "schemas": [CORE_USER],
        "userName": user_name(i, domain),
        "name": {"givenName": given_name(i), "familyName": family_name(i)},
        "displayName": display_name(i),
        "emails": [{"value": user_name(i, domain), "type": "work", "primary": True}],
        "active": True,
    }


def new_user(i: int, address: str) -> dict[str, Any]:
    """User ``i``'s body with ``address`` as its ``userName`` and e-mail: a user to create."""
    body = scim_user(i)
    body["userName"] = body["emails"][0]["value"] = address
    return body


def write_index(path: Path, count: int, domain: str = DOMAIN) -> Path:
    """One ``id userName`` line per user, for the wrk scripts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (f"{resource_id(i, domain)} {user_name(i, domain)}\n" for i in range(count))
    path.write_text("".join(lines))
    return path
