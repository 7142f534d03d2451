"""The test IdP's XML signatures, made in Python by signxml instead of Debian's ``xmlsec1``.

pysaml2 builds a response with an empty ``ds:Signature`` template in each element it signs
and hands the document to a crypto backend; its stock backend runs the ``xmlsec1`` program.
:class:`SignxmlBackend` fills the same template with signxml, which computes digests and
signatures with ``lxml`` and ``cryptography``. seatgate verifies through python3-saml and
libxmlsec1, so the signatures it is tested against come from an independent implementation,
and the suite needs no program outside the project's Python dependencies.

Every signature is verified by signxml again before it is handed out: a response the tests
expect seatgate to refuse (an old algorithm, a wrapped assertion) then carries a signature
that is cryptographically sound, so the refusal is seatgate's policy and never a broken
signature that any verifier would reject.
"""

from __future__ import annotations

import functools
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from saml2.sigver import CryptoBackend
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner, XMLVerifier
from signxml.verifier import SignatureConfiguration

DS = "http://www.w3.org/2000/09/xmldsig#"
EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def private_key(key_file: str | Path) -> RSAPrivateKey:
    """The RSA key in a PEM file. Loading one checks the key (about 0.1 s), so each key is
    loaded once per process (by content: a file rewritten with a new key is a new key)."""
    return _load_key(Path(key_file).read_bytes())


@functools.cache
def _load_key(pem: bytes) -> RSAPrivateKey:
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, RSAPrivateKey), type(key)
    return key


class _AnyAlgorithmSigner(XMLSigner):
    """signxml refuses to sign with SHA-1; the tests ask for it on purpose, to check that
    seatgate refuses such responses, so this signer signs with whatever it is told."""

    def check_deprecated_methods(self) -> None:
        return None


def _one(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, {"ds": DS})
    assert found is not None, f"pysaml2's signature template has no {path}"
    return found


class SignxmlBackend(CryptoBackend):  # type: ignore[misc]
    """A pysaml2 crypto backend that signs with signxml (signing only: the test IdP never
    verifies XML signatures, and seatgate's messages to it are signed in the query string)."""

    @property
    def version(self) -> str:
        return "signxml"

    def sign_statement(
        self, statement: str | bytes, node_name: str, key_file: str, node_id: str
    ) -> str:
        """Sign the element whose ``ID`` is ``node_id`` (a ``node_name`` such as
        ``urn:oasis:names:tc:SAML:2.0:assertion:Assertion``) where pysaml2 put its template."""
        raw = statement.encode() if isinstance(statement, str) else statement
        document = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
        namespace, _, local_name = node_name.rpartition(":")
        matches = document.xpath("//*[@ID=$id]", id=node_id)
        assert len(matches) == 1, f"{len(matches)} elements with ID {node_id!r}"
        target = matches[0]
        assert target.tag == f"{{{namespace}}}{local_name}", (target.tag, node_name)

        template = _one(target, "ds:Signature")
        sign_alg = _one(template, "ds:SignedInfo/ds:SignatureMethod").get("Algorithm")
        digest_alg = _one(template, "ds:SignedInfo/ds:Reference/ds:DigestMethod").get("Algorithm")
        certificate = "".join(_one(template, ".//ds:X509Certificate").text.split())  # type: ignore[union-attr]
        placeholder = etree.Element(f"{{{DS}}}Signature", Id="placeholder")
        target.replace(template, placeholder)

        signer = _AnyAlgorithmSigner(
            signature_algorithm=SignatureMethod(sign_alg),
            digest_algorithm=DigestAlgorithm(digest_alg),
            c14n_algorithm=EXCLUSIVE_C14N,
        )
        signed_document = signer.sign(
            document,
            key=private_key(key_file),
            cert=_pem(certificate),
            reference_uri=node_id,
            id_attribute="ID",
        )
        signed = signed_document.xpath("//*[@ID=$id]", id=node_id)[0]
        _verify(signed, certificate, SignatureMethod(sign_alg), DigestAlgorithm(digest_alg))
        return etree.tostring(signed_document, xml_declaration=True, encoding="UTF-8").decode()


def _pem(certificate: str) -> str:
    lines = [certificate[i : i + 64] for i in range(0, len(certificate), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"])


def _verify(
    element: etree._Element, certificate: str, sign_alg: SignatureMethod, digest: DigestAlgorithm
) -> None:
    """Check the signature just made on ``element`` (its own child, nothing nested)."""
    XMLVerifier().verify(
        etree.tostring(element),
        x509_cert=_pem(certificate),
        id_attribute="ID",
        expect_config=SignatureConfiguration(
            location="./",
            signature_methods=frozenset({sign_alg}),
            digest_algorithms=frozenset({digest}),
        ),
    )
