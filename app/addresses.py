"""E-mail addresses: how they are validated, and the one identity key they are compared by.

Two spellings of an address are one person exactly when their identity keys are equal. The
key is ``local@domain`` with

- the domain IDNA-encoded (IDNA 2008 with the UTS 46 mapping, non-transitional, as e-mail
  address validation does it) and lower-cased, so ``bücher.example``, ``BÜCHER.example``
  and ``xn--bcher-kva.example`` are one domain, while ``straße.example`` stays
  ``xn--strae-oqa.example``, not ``strasse.example``;
- the local part with ASCII letters lower-cased and normalized to NFC, and otherwise kept
  exactly. Canonically equivalent spellings are one address (the Kelvin sign ``K`` *is*
  ``K``), but no case folding beyond ASCII: ``ſam@`` (long s) is not ``sam@``, ``straße@``
  is not ``strasse@``, ``Ärger@`` is not ``ärger@``. ASCII case is ignored because people
  and directories write it either way; Unicode case folding is what made look-alikes one
  member.

SCIM, SAML, the CLI, the domain allowlist, the waiting list and every lookup use these
functions and nothing else.
"""

from __future__ import annotations

import functools
import string
import unicodedata

import email_validator
import idna
from email_validator import EmailNotValidError, validate_email

from app.errors import InvalidInput

# Directories really do hold addresses such as alice@corp.local (Active Directory) or
# @example.test (staging tenants); refusing them would lock real users out.
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    if name not in {"local", "localhost", "test"}
]

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def normalize_email(address: str) -> tuple[str, str]:
    """The address as people see it (validated, domain in Unicode) and its identity key.

    Raises :class:`~app.errors.InvalidInput` for anything that is not an address, including
    an address whose domain is not a valid internationalized domain name.
    """
    try:
        checked = validate_email(
            address, check_deliverability=False, globally_deliverable=False, allow_smtputf8=True
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"{address!r} is not a valid e-mail address: {exc}") from exc
    return checked.normalized, identity_key(checked.normalized)


def identity_key(address: str) -> str:
    """The identity key of ``address`` (see the module). The key of a key is itself.

    Does not check the rest of the address's syntax: a lookup with a malformed address
    simply finds no one. Raises :class:`~app.errors.InvalidInput` when there is no ``@``
    or the domain is not valid IDNA.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise InvalidInput(f"{address!r} is not an e-mail address (local-part@domain).")
    return f"{local_part_key(local)}@{domain_key(domain)}"


def lookup_key(text: str) -> str:
    """The key of something that is usually an address but need not be: a SCIM ``userName``
    (``jdoe``, ``jdoe@corp_host``), or whom a refusal was about. Never raises.

    Whatever follows the last ``@`` and is a domain name is keyed as an address's domain,
    the rest by the local part's rule (ASCII case ignored, nothing else folded): so an
    address gets its identity key, a ``userName`` is the same user exactly when it is the
    same address, and a filter's ``ew "@bücher.example"`` compares like the keys it reads.
    """
    local, at, domain = text.rpartition("@")
    if at:
        try:
            return f"{local_part_key(local)}@{domain_key(domain)}"
        except InvalidInput:
            pass
    return local_part_key(text)


def local_part_key(local: str) -> str:
    """NFC, then ASCII letters lower-cased, then NFC again.

    NFC first, so that a compatibility singleton such as the Kelvin sign becomes the ASCII
    letter it stands for before lower-casing; NFC again, because a few capitals have no
    precomposed form with a mark that their small letter has (``W`` + ring above against
    ``ẘ``): this way the two are one key, and the key of a key is itself.
    """
    if local.isascii():
        return local.lower()
    composed = unicodedata.normalize("NFC", local)
    return unicodedata.normalize("NFC", composed.translate(_ASCII_LOWER))


@functools.lru_cache(maxsize=4096)
def domain_key(domain: str) -> str:
    """``domain`` IDNA-encoded and lower-cased, without a final dot.

    Cached: an organization's members share a handful of domains, and every SCIM create,
    sign-in and ``userName`` probe keys one.
    """
    name = domain.removesuffix(".")
    try:
        encoded = idna.encode(name, uts46=True, transitional=False)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidInput(f"{domain!r} is not a domain name (IDNA 2008: {exc}).") from exc
    return encoded.decode("ascii").lower()


def domain_of(address: str) -> str:
    """The domain part of ``address``'s identity key (IDNA-encoded)."""
    return identity_key(address).rpartition("@")[2]
