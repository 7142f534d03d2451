"""SCIM 2.0 adapter (RFC 7643/7644): parse, call the ledger, render. Never counts seats itself."""

from scim import bulk, commands, endpoints, group_endpoints, me, root_search
from scim.blueprint import blueprint

__all__ = ["blueprint", "bulk", "commands", "endpoints", "group_endpoints", "me", "root_search"]
