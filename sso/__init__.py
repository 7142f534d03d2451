"""SAML 2.0 service-provider adapter (python3-saml). Calls the ledger for the seat check."""

from sso.blueprint import blueprint

__all__ = ["blueprint"]
