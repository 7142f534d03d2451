"""The installed stack is usable: python3-saml's XML libraries agree, adapters import cleanly."""

import ast
import importlib
from pathlib import Path

import lxml.etree
import pytest
import xmlsec


def test_lxml_and_xmlsec_link_the_same_libxml2() -> None:
    # Mismatched bundled libxml2 versions make python3-saml fail at run time with
    # "lxml & xmlsec libxml2 library version mismatch"; wheels must agree.
    assert xmlsec.get_libxml_version() == lxml.etree.LIBXML_VERSION


def test_python3_saml_imports() -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    assert OneLogin_Saml2_Auth is not None


def test_adapters_import_and_register(app) -> None:  # type: ignore[no-untyped-def]
    for name in ("scim", "sso"):
        module = importlib.import_module(name)
        assert module.blueprint.name in app.blueprints


DOMAIN_MODULES = [
    "ledger",
    "billing",
    "proration",
    "money",
    "organizations",
    "renewal",
    "errors",
    "models",
    "audit",
    "db",
    "settings",
    "seat_reports",
    "dev_sign_in",
    "sessions",
    "crypto",
    "directory",
    "scim_tokens",
    "groups",
    "group_roles",
    "connection_logs",
    "setup_links",
    "idp_changes",
    "sign_in_links",
    "domains",
    "addresses",
    "waiting_list",
    "reconciliation",
    "rate_limits",
]


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_modules_know_nothing_of_http_or_protocols(module: str) -> None:
    path = Path(__file__).resolve().parent.parent / "app" / f"{module}.py"
    assert not _imported_roots(path) & {"flask", "werkzeug", "scim", "sso", "marshmallow"}
