"""A real SAML identity provider for the tests: pysaml2 (an independent implementation).

pysaml2 parses seatgate's AuthnRequests and builds the responses; signxml signs them
(:mod:`tests.sso.signing`) and ``cryptography`` signs and checks HTTP-Redirect query strings,
so no program outside the Python dependencies is needed. Nothing here hand-writes a
signature. Key pairs are generated with ``cryptography`` once per test session.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.sigver import RSACrypto, verify_redirect_signature

from tests.sso.signing import SignxmlBackend, private_key

IDP_ENTITY_ID = "https://idp.example.test/saml/metadata"
IDP_SSO_URL = "https://idp.example.test/saml/sso"
IDP_SLO_URL = "https://idp.example.test/saml/slo"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


@dataclass(frozen=True)
class KeyPair:
    key_file: Path
    cert_file: Path

    @property
    def certificate(self) -> str:
        return self.cert_file.read_text()


def make_key_pair(
    directory: Path, name: str, *, serves_ip: str | None = None, serves_name: str | None = None
) -> KeyPair:
    """A key and its self-signed certificate, as files. ``serves_ip`` / ``serves_name``: the
    certificate also names that address or DNS name and may anchor its own trust, so a TLS
    server on it can be verified."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test idp {name}")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    served: list[x509.GeneralName] = []
    if serves_ip is not None:
        served.append(x509.IPAddress(ipaddress.ip_address(serves_ip)))
    if serves_name is not None:
        served.append(x509.DNSName(serves_name))
    if served:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(served), critical=False
        ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    certificate = builder.sign(key, hashes.SHA256())
    pair = KeyPair(directory / f"{name}.key", directory / f"{name}.crt")
    pair.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    pair.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return pair


def _config(keys: KeyPair, sp_metadata: list[str]) -> IdPConfig:
    config = IdPConfig()
    config.load(
        {
            "entityid": IDP_ENTITY_ID,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(IDP_SSO_URL, BINDING_HTTP_REDIRECT)],
                        "single_logout_service": [(IDP_SLO_URL, BINDING_HTTP_REDIRECT)],
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "name_form": NAME_FORMAT_UNSPECIFIED,
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                }
            },
            "key_file": str(keys.key_file),
            "cert_file": str(keys.cert_file),
            "metadata": {"inline": sp_metadata},
            # pysaml2's backend that needs no xmlsec1 program; replaced below by signxml's.
            "crypto_backend": "XMLSecurity",
        }
    )
    return config


class TestIdentityProvider:
    """pysaml2 IdP that knows seatgate's SP metadata and can sign with any test key."""

    __test__ = False

    def __init__(self, keys: KeyPair, sp_metadata: list[str]) -> None:
        self.sp_metadata = sp_metadata
        self.server = Server(config=_config(keys, sp_metadata))
        # XML signatures: signxml. Query-string signatures (HTTP-Redirect): pysaml2's own
        # cryptography-based code, which only its xmlsec1 backend would have set up.
        self.server.sec.crypto = SignxmlBackend()
        self.server.sec.sec_backend = RSACrypto(private_key(keys.key_file))

    def signed_by(self, keys: KeyPair) -> TestIdentityProvider:
        """The same IdP (same entity id) signing with another key."""
        return TestIdentityProvider(keys, self.sp_metadata)

    def verify_redirect_signature(self, location: str, sp_metadata: str) -> bool:
        """Check a signed HTTP-Redirect AuthnRequest with the certificate in the SP metadata."""
        match = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", sp_metadata)
        assert match is not None, "SP metadata publishes no certificate"
        query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
        return bool(
            verify_redirect_signature(
                query, self.server.sec.sec_backend, cert="".join(match.group(1).split())
            )
        )

    def logout_request_url(
        self, *, sls_url: str, sp_entity_id: str, name_id: str, sign: bool = True
    ) -> str:
        """An IdP-initiated LogoutRequest over HTTP-Redirect, signed in the query string."""
        _request_id, request = self.server.create_logout_request(
            destination=sls_url,
            issuer_entity_id=sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=name_id),
            sign=False,
        )
        binding = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            sls_url,
            relay_state="",
            sign=sign,
            sigalg=RSA_SHA256,
        )
        return str(dict(binding["headers"])["Location"])

    def metadata_xml(self) -> str:
        return str(entity_descriptor(self.server.config))

    def read_request(self, redirect_location: str) -> tuple[str, str, str]:
        """Parse seatgate's redirect like the IdP would: (request id, ACS URL, RelayState)."""
        query = parse_qs(urlsplit(redirect_location).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return (
            request.message.id,
            request.message.assertion_consumer_service_url,
            query.get("RelayState", [""])[0],
        )

    def response_xml(
        self,
        *,
        email: str,
        acs_url: str,
        sp_entity_id: str,
        in_response_to: str | None,
        attributes: dict[str, list[str]] | None = None,
        name_id: str | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
    ) -> str:
        identity = attributes if attributes is not None else {"email": [email]}
        response: Any = self.server.create_authn_response(
            identity=identity,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=name_id or email),
            authn={"class_ref": PASSWORD},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            sign_alg=RSA_SHA256,
            digest_alg=SHA256,
        )
        return str(response)


def encode(xml: str | bytes) -> str:
    raw = xml.encode() if isinstance(xml, str) else xml
    return base64.b64encode(raw).decode()
