"""The compiled-schema validator answers exactly like python3-saml's own."""

from __future__ import annotations

import pytest

from sso import xml_schemas

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
    stock = xml_schemas._STOCK_VALIDATE(document, PROTOCOL)
    cached = xml_schemas.validate_xml(document, PROTOCOL)
    if isinstance(stock, str):
        assert cached == stock  # 'invalid_xml' or 'unloaded_xml'
    else:
        assert cached.tag == stock.tag  # the parsed document


def test_only_python3_saml_schema_names() -> None:
    with pytest.raises(ValueError, match="schema files"):
        xml_schemas.validate_xml(VALID, "../../etc/passwd")
