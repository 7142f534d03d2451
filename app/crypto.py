"""Key material: RSA keys, self-signed SP certificates, private keys sealed at rest.

Private keys are stored as PKCS#8 PEM encrypted with the instance's ``secret_key`` (the
``cryptography`` library's best available PEM encryption), so a copy of the database alone
does not let anyone sign sessions or AuthnRequests. Changing ``secret_key`` therefore needs
``seatgate keys rotate`` and ``seatgate sso configure`` afterwards (new keys are generated).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app.errors import InvalidInput

RSA_BITS = 2048
SP_CERTIFICATE_YEARS = 10


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def seal_private_key(key: rsa.RSAPrivateKey, secret: str) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret.encode()),
    ).decode()


def open_private_key(sealed: str, secret: str) -> rsa.RSAPrivateKey:
    """The key inside ``sealed``; raises :class:`ValueError` if ``secret`` does not open it.

    Opening runs the PEM encryption's key derivation, deliberately slow (about 50 ms), so
    opened keys are kept in memory, keyed by the sealed text and the secret: a sealed key
    never changes, and a wrong secret is never cached (it raises). Keeping it costs no
    secrecy: the process already holds ``secret_key``, which opens every sealed key.
    """
    return _open_private_key(sealed, secret)


@functools.lru_cache(maxsize=64)
def _open_private_key(sealed: str, secret: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(sealed.encode(), password=secret.encode())
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("seatgate only stores RSA private keys")
    return key


def plain_pem(key: rsa.RSAPrivateKey) -> str:
    """The unencrypted PEM python3-saml needs in memory to sign; never stored."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def self_signed_certificate(key: rsa.RSAPrivateKey, common_name: str) -> str:
    """The SP certificate published in metadata; IdPs pin it to verify signed requests."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * SP_CERTIFICATE_YEARS))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def normalize_certificate(text: str) -> str:
    """A pinned IdP certificate as canonical PEM; bare base64 (as in metadata) is accepted."""
    body = text.strip()
    if "-----BEGIN CERTIFICATE-----" not in body:
        body = (
            "-----BEGIN CERTIFICATE-----\n" + "".join(body.split()) + "\n-----END CERTIFICATE-----"
        )
    try:
        certificate = x509.load_pem_x509_certificate(body.encode())
    except ValueError as exc:
        raise InvalidInput(f"Not a PEM or base64 X.509 certificate: {exc}") from exc
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_summary(pem: str) -> dict[str, str]:
    """What an operator needs to recognise a pinned certificate (shown, never trusted)."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return {
        "subject": certificate.subject.rfc4514_string(),
        "not_valid_after": certificate.not_valid_after_utc.isoformat(),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(":"),
    }


def secret_digest(secret: str) -> str:
    """What is stored instead of a random bearer secret (SCIM token, setup or sign-in link).

    The secrets are high-entropy random strings, so a plain SHA-256 is enough (no password
    hashing); it is looked up by value, then compared with :func:`hmac.compare_digest`.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
