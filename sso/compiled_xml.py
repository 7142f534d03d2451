"""python3-saml's XML Schema validation and XPath queries, each compiled once per thread.

python3-saml validates every SAML message against the SAML 2.0 XSDs, and reads and compiles
the schema files again for every message: about 40 % of the time of a sign-in response.
It also compiles each XPath expression anew on every query, some fifty per response.
:func:`install` replaces ``OneLogin_Saml2_XML.validate_xml`` with the same check (same
schema files, same results: the document, ``'unloaded_xml'`` or ``'invalid_xml'``) over a
compiled schema, and ``OneLogin_Saml2_XML.query`` with the same query (same expression,
same namespaces, same ``$tagid`` variable) over a compiled ``etree.XPath``; both kept per
thread (lxml's compiled objects are not shared between threads). Validation and every query
still run on every message; nothing is skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import onelogin.saml2.xml_utils as xml_utils
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

SCHEMA_DIRECTORY = Path(xml_utils.__file__).parent / "schemas"
_STOCK_VALIDATE = OneLogin_Saml2_XML.validate_xml
_STOCK_QUERY = OneLogin_Saml2_XML.query
MAX_KEPT = 256
T = TypeVar("T")
_compiled = threading.local()


def _kept(kind: str, source: str, compile_: Callable[[str], T]) -> T:
    """``compile_(source)``, compiled once per thread and kept (python3-saml's schema names and
    XPath expressions are constants; the bound only guards against a surprise)."""
    kept: dict[str, T] = _compiled.__dict__.setdefault(kind, {})
    found = kept.get(source)
    if found is None:
        if len(kept) >= MAX_KEPT:
            kept.clear()
        found = kept[source] = compile_(source)
    return found


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIRECTORY / name)))


def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression, namespaces=OneLogin_Saml2_Constants.NSMAP)


def validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """``OneLogin_Saml2_XML.validate_xml`` with a compiled schema (``debug`` prints nothing)."""
    if not isinstance(schema, str) or Path(schema).name != schema:
        raise ValueError(f"not one of python3-saml's schema files: {schema!r}")
    try:
        document = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    if not _kept("schemas", schema, _schema).validate(document):
        return "invalid_xml"
    return document


def query(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
    """``OneLogin_Saml2_XML.query`` with a compiled expression."""
    source = dom if context is None else context
    xpath = _kept("xpaths", query, _xpath)
    return xpath(source) if tagid is None else xpath(source, tagid=tagid)


def install() -> None:
    """Make python3-saml use :func:`validate_xml` and :func:`query` (idempotent)."""
    OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)
    OneLogin_Saml2_XML.query = staticmethod(query)


def installed() -> bool:
    return (
        OneLogin_Saml2_XML.validate_xml is not _STOCK_VALIDATE
        or OneLogin_Saml2_XML.query is not _STOCK_QUERY
    )
