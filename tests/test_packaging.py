"""The installed stack is usable: python3-saml's XML libraries agree, adapters import cleanly,
and the lock files ``make`` installs from hold what pyproject.toml asks for."""

import ast
import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import lxml.etree
import pytest
import xmlsec
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT = Path(__file__).resolve().parent.parent
# Each lock file and the extras it holds (the Makefile's install targets and `make lock`).
LOCKS = {"base": (), "test": ("test",), "bench": ("test", "bench")}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    return project


def _pins(lock: str) -> dict[str, Version]:
    lines = (PROJECT / "requirements" / f"{lock}.txt").read_text().splitlines()
    return {
        canonicalize_name(match[1]): Version(match[2])
        for match in map(PIN.match, lines)
        if match is not None
    }


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items(), ids=LOCKS)
def test_the_lock_file_pins_every_dependency_within_its_range(
    lock: str, extras: tuple[str, ...]
) -> None:
    project = _pyproject()
    wanted = [*project["dependencies"]]
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    pins = _pins(lock)
    problems = []
    for requirement in map(Requirement, wanted):
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not locked")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} is outside {requirement}")
    assert problems == [], f"requirements/{lock}.txt: {'; '.join(problems)} (run `make lock`)"


def test_every_extra_is_locked_and_the_lock_files_agree() -> None:
    assert set(_pyproject()["optional-dependencies"]) == {e for x in LOCKS.values() for e in x}
    versions: dict[str, set[Version]] = {}
    for lock in LOCKS:
        for name, version in _pins(lock).items():
            versions.setdefault(name, set()).add(version)
    assert {name: found for name, found in versions.items() if len(found) > 1} == {}


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
