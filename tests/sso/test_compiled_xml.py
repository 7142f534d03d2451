"""The compiled-schema validator answers exactly like python3-saml's own."""

from __future__ import annotations

import pytest
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from sso import compiled_xml

PROTOCOL = "saml-schema-protocol-2.0.xsd"
VALID = (
    b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"'
    b' Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status>'
    b'<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
    b"</samlp:Status></samlp:LogoutResponse>"
)
INVALID = VALID.replace(b' Version="2.0"', b"")  # Version is required


@pytest.mark.parametrize("document", [VALID, INVALID, b"<unclosed"])
def test_same_answer_as_python3_saml(document: bytes) -> None:
    stock = compiled_xml._STOCK_VALIDATE(document, PROTOCOL)
    cached = compiled_xml.validate_xml(document, PROTOCOL)
    if isinstance(stock, str):
        assert cached == stock  # 'invalid_xml' or 'unloaded_xml'
    else:
        assert cached.tag == stock.tag  # the parsed document


def test_only_python3_saml_schema_names() -> None:
    with pytest.raises(ValueError, match="schema files"):
        compiled_xml.validate_xml(VALID, "../../etc/passwd")


SIGNED = (
    b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
    b' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
    b' xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_r">'
    b"<saml:Issuer>idp</saml:Issuer>"
    b'<saml:Assertion ID="_a"><saml:Issuer>idp</saml:Issuer><ds:Signature>'
    b'<ds:SignedInfo><ds:Reference URI="#_a"/></ds:SignedInfo></ds:Signature></saml:Assertion>'
    b'<saml:Assertion ID="_b"/></samlp:Response>'
)


@pytest.mark.parametrize(
    ("expression", "tagid", "context", "found"),
    [
        ("/samlp:Response/saml:Issuer", None, False, 1),
        ("//saml:Assertion", None, False, 2),
        ("//saml:Assertion[@ID=$tagid]", "_b", False, 1),
        ("//saml:Assertion[@ID=$tagid]", "_missing", False, 0),
        (".//ds:Reference", None, True, 1),
        ("/samlp:Response/saml:Nothing", None, False, 0),
    ],
)
def test_compiled_queries_find_what_python3_saml_finds(
    expression: str, tagid: str | None, context: bool, found: int
) -> None:
    document = OneLogin_Saml2_XML.to_etree(SIGNED)
    within = document.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") if context else None
    stock = compiled_xml._STOCK_QUERY(document, expression, within, tagid)
    compiled = compiled_xml.query(document, expression, within, tagid)
    assert len(stock) == found
    assert compiled == stock  # the same nodes, in the same order
    assert compiled_xml.query(document, expression, within, tagid) == stock  # and once compiled
