"""SCIM 2.0 adapter (RFC 7643/7644): parse, call the ledger, render. Never counts seats itself."""

from scim import commands, endpoints
from scim.blueprint import blueprint

__all__ = ["blueprint", "commands", "endpoints"]
