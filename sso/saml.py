"""python3-saml, configured strictly, and the neutral result of a validated response.

Everything SAML-specific stays here: building python3-saml settings for one organization,
the request data (from the configured public ``base_url``, never the ``Host`` header),
AuthnRequests, SP metadata, and reading a response into a :class:`SamlIdentity`. Callers
never see python3-saml objects or exceptions, only the identity or a
:class:`~sso.errors.SignInRefused`.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import logging
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from app import crypto
from app.models import IdentityProvider, RequiredSignature
from sso.errors import InvalidResponse, MalformedMessage, SsoMisconfigured
from sso.providers import attribute_map

log = logging.getLogger("seatgate.sso")

# Size bound on an encoded SAMLResponse: real ones are a few KiB; this stops huge documents
# before any parser runs.
MAX_RESPONSE_BYTES = 256 * 1024
MAX_ASSERTION_ID = 256  # the replay cache's column


@dataclass(frozen=True)
class SpEndpoints:
    """seatgate's public SAML URLs for one organization, all derived from ``base_url``."""

    base_url: str
    slug: str

    @property
    def root(self) -> str:
        return f"{self.base_url.rstrip('/')}/sso/{self.slug}"

    @property
    def entity_id(self) -> str:
        return f"{self.root}/metadata"

    @property
    def acs(self) -> str:
        return f"{self.root}/acs"

    @property
    def sls(self) -> str:
        return f"{self.root}/sls"


@dataclass(frozen=True)
class SamlIdentity:
    """A validated sign-in, free of SAML: who, what the IdP said, and replay bookkeeping."""

    issuer: str
    name_id: str
    name_id_format: str | None
    email: str | None
    display_name: str | None
    attributes: Mapping[str, list[str]]
    session_index: str | None
    assertion_id: str
    not_on_or_after: dt.datetime
    in_response_to: str | None


def saml_settings(
    provider: IdentityProvider, endpoints: SpEndpoints, secret_key: str
) -> OneLogin_Saml2_Settings:
    """Strict python3-saml settings: pinned certificates, SHA-256, deprecated algorithms off.

    Building them parses and checks every certificate (and opens the SP key when seatgate
    signs), so they are built once per configuration and kept: the cache key is every value
    they are made of, so a reconfiguration (on this instance or another) is used at once.
    Settings python3-saml refuses (saved before :func:`sso.providers.check_with_python3_saml`
    existed), or an SP key the ``secret_key`` no longer opens, are :class:`SsoMisconfigured`.
    """
    configuration = _Configuration(
        entity_id=provider.entity_id,
        sso_url=provider.sso_url,
        slo_url=provider.slo_url,
        certificates=tuple(provider.certificates),
        sign_authn_requests=provider.sign_authn_requests,
        required_signature=RequiredSignature(provider.required_signature),
        sp_certificate=provider.sp_certificate,
        sp_private_key=provider.sp_private_key,
        endpoints=endpoints,
        secret_key=secret_key,
    )
    try:
        return _settings(configuration)
    except OneLogin_Saml2_Error as exc:
        detail = f"python3-saml refuses the saved IdP settings (SSO URL {provider.sso_url!r}"
        if provider.slo_url:
            detail += f", SLO URL {provider.slo_url!r}"
        raise SsoMisconfigured(
            f"{detail}): {exc}", organization_id=provider.organization_id
        ) from exc
    except ValueError as exc:  # crypto.open_private_key: sealed with another secret_key
        raise SsoMisconfigured(
            f"the organization's SP key cannot be opened: {exc}",
            organization_id=provider.organization_id,
        ) from exc


@dataclass(frozen=True)
class _Configuration:
    """What an organization's python3-saml settings are made of (hashable: the cache key)."""

    entity_id: str
    sso_url: str
    slo_url: str | None
    certificates: tuple[str, ...]
    sign_authn_requests: bool
    required_signature: RequiredSignature
    sp_certificate: str
    sp_private_key: str
    endpoints: SpEndpoints
    secret_key: str


@functools.lru_cache(maxsize=256)
def _settings(configuration: _Configuration) -> OneLogin_Saml2_Settings:
    required = configuration.required_signature
    endpoints = configuration.endpoints
    idp: dict[str, Any] = {
        "entityId": configuration.entity_id,
        "singleSignOnService": {
            "url": configuration.sso_url,
            "binding": Saml.BINDING_HTTP_REDIRECT,
        },
        "x509certMulti": {"signing": list(configuration.certificates)},
    }
    if configuration.slo_url:
        idp["singleLogoutService"] = {
            "url": configuration.slo_url,
            "binding": Saml.BINDING_HTTP_REDIRECT,
        }
    signs = configuration.sign_authn_requests
    settings = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": endpoints.entity_id,
            "assertionConsumerService": {"url": endpoints.acs, "binding": Saml.BINDING_HTTP_POST},
            "singleLogoutService": {"url": endpoints.sls, "binding": Saml.BINDING_HTTP_REDIRECT},
            "NameIDFormat": Saml.NAMEID_UNSPECIFIED,
            "x509cert": configuration.sp_certificate,
            # Opened only when seatgate signs.
            "privateKey": crypto.plain_pem(
                crypto.open_private_key(configuration.sp_private_key, configuration.secret_key)
            )
            if signs
            else "",
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": signs,
            "logoutRequestSigned": signs,
            "logoutResponseSigned": signs,
            "wantAssertionsSigned": required
            in {RequiredSignature.ASSERTION, RequiredSignature.BOTH},
            "wantMessagesSigned": required in {RequiredSignature.RESPONSE, RequiredSignature.BOTH},
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "wantXMLValidation": True,
            "rejectDeprecatedAlgorithm": True,
            "rejectUnsolicitedResponsesWithInResponseTo": False,
            "requestedAuthnContext": False,
            "signatureAlgorithm": Saml.RSA_SHA256,
            "digestAlgorithm": Saml.SHA256,
        },
    }
    return OneLogin_Saml2_Settings(settings, sp_validation_only=False)


def request_data(
    endpoints: SpEndpoints,
    route: str,
    *,
    query: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    query_string: str = "",
) -> dict[str, Any]:
    """python3-saml's view of the request, built from ``base_url`` so ``Host`` cannot steer it."""
    base = urlsplit(endpoints.base_url)
    return {
        "https": "on" if base.scheme == "https" else "off",
        "http_host": base.netloc,
        "script_name": f"{base.path.rstrip('/')}/sso/{endpoints.slug}/{route}",
        "get_data": dict(query or {}),
        "post_data": dict(form or {}),
        "query_string": query_string,
        # Verify redirect-binding signatures over the bytes the IdP signed, whatever its
        # percent-encoding style.
        "validate_signature_from_qs": True,
    }


def sp_metadata(settings: OneLogin_Saml2_Settings) -> str:
    metadata: str | bytes = settings.get_sp_metadata()
    errors = settings.validate_metadata(metadata)
    if errors:
        raise RuntimeError(f"seatgate built invalid SP metadata: {errors}")
    return metadata.decode() if isinstance(metadata, bytes) else metadata


@dataclass(frozen=True)
class AuthnRequestStart:
    request_id: str
    redirect_url: str


def start_login(
    settings: OneLogin_Saml2_Settings, data: Mapping[str, Any], relay_state: str
) -> AuthnRequestStart:
    """A new AuthnRequest (signed when the organization asks) and the IdP URL to send it to."""
    auth = OneLogin_Saml2_Auth(dict(data), old_settings=settings)
    url = auth.login(return_to=relay_state)
    return AuthnRequestStart(request_id=auth.get_last_request_id(), redirect_url=url)


def start_logout(
    settings: OneLogin_Saml2_Settings,
    data: Mapping[str, Any],
    *,
    name_id: str,
    session_index: str | None,
    return_to: str,
) -> str:
    """The IdP URL carrying a LogoutRequest for this session (SP-initiated single logout)."""
    auth = OneLogin_Saml2_Auth(dict(data), old_settings=settings)
    url: str = auth.logout(return_to=return_to, name_id=name_id, session_index=session_index)
    return url


@dataclass(frozen=True)
class LogoutOutcome:
    """A validated single-logout message: whom the IdP logged out, and where to go next."""

    name_id: str | None
    session_indexes: list[str]
    redirect_url: str | None


def process_logout(settings: OneLogin_Saml2_Settings, data: Mapping[str, Any]) -> LogoutOutcome:
    """Validate an IdP's LogoutRequest (which must be signed) or LogoutResponse.

    A LogoutRequest yields the NameID whose sessions end and the URL carrying our
    LogoutResponse back to the IdP; a LogoutResponse only confirms a logout we started.
    """
    query = data["get_data"]
    is_request = "SAMLRequest" in query
    if is_request and "Signature" not in query:
        raise InvalidResponse("unsigned LogoutRequest")
    if not is_request and "SAMLResponse" not in query:
        raise MalformedMessage("no SAMLRequest or SAMLResponse in the query")
    auth = OneLogin_Saml2_Auth(dict(data), old_settings=settings)
    try:
        redirect_url = auth.process_slo(keep_local_session=True)
    except Exception as exc:  # parser and validation failures alike are refusals
        raise InvalidResponse(f"{type(exc).__name__}: {exc}") from exc
    if auth.get_errors():
        raise InvalidResponse(f"{auth.get_errors()}: {auth.get_last_error_reason()}")
    if not is_request:
        return LogoutOutcome(name_id=None, session_indexes=[], redirect_url=None)
    xml = auth.get_last_request_xml()
    return LogoutOutcome(
        name_id=OneLogin_Saml2_Logout_Request.get_nameid(xml),
        session_indexes=list(OneLogin_Saml2_Logout_Request.get_session_indexes(xml)),
        redirect_url=redirect_url,
    )


def read_response(
    provider: IdentityProvider,
    settings: OneLogin_Saml2_Settings,
    data: Mapping[str, Any],
    encoded: str,
) -> SamlIdentity:
    """Validate a POSTed SAMLResponse strictly and return who signed in.

    Raises :class:`MalformedMessage` for anything that is not a safe, well-formed document
    (including DTDs, entity declarations, XXE, billion laughs) and :class:`InvalidResponse`
    for anything python3-saml or the extra checks below refuse. Never anything else.
    """
    _screen(encoded)
    try:
        response = OneLogin_Saml2_Response(settings, encoded)
    except Exception as exc:
        raise MalformedMessage(f"unparseable SAMLResponse: {type(exc).__name__}: {exc}") from exc
    try:
        response.is_valid(dict(data), raise_exceptions=True)
        identity = _identity(provider, response)
    except InvalidResponse:
        raise
    except Exception as exc:
        step = _FAILED_STEP.get(getattr(exc, "code", None), "validity")
        raise InvalidResponse(f"{type(exc).__name__}: {exc}", step=step) from exc
    _check_recipients(response, data)
    return identity


_E = OneLogin_Saml2_ValidationError
# python3-saml's validation error codes, grouped into the steps an IT admin can act on.
_FAILED_STEP: dict[object, str] = {
    **dict.fromkeys(
        (
            _E.INVALID_SIGNATURE,
            _E.NO_SIGNED_ASSERTION,
            _E.NO_SIGNED_MESSAGE,
            _E.NO_SIGNATURE_FOUND,
            _E.WRONG_NUMBER_OF_SIGNATURES,
            _E.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION,
            _E.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE,
            _E.INVALID_SIGNED_ELEMENT,
            _E.WRONG_SIGNED_ELEMENT,
            _E.UNEXPECTED_SIGNED_ELEMENTS,
            _E.DEPRECATED_SIGNATURE_METHOD,
            _E.DEPRECATED_DIGEST_METHOD,
        ),
        "signature",
    ),
    _E.WRONG_AUDIENCE: "audience",
    _E.WRONG_DESTINATION: "destination",
    _E.EMPTY_DESTINATION: "destination",
    _E.WRONG_SUBJECTCONFIRMATION: "destination",
    _E.WRONG_ISSUER: "issuer",
    _E.ISSUER_MULTIPLE_IN_RESPONSE: "issuer",
    _E.ISSUER_NOT_FOUND_IN_ASSERTION: "issuer",
}


def _screen(encoded: str) -> None:
    """Cheap checks before the XML parser: size, base64, and a document without a DTD."""
    if not encoded or len(encoded) > MAX_RESPONSE_BYTES:
        raise MalformedMessage("SAMLResponse missing or too large")
    try:
        raw = b64decode(encoded, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessage(f"SAMLResponse is not base64: {exc}") from exc
    try:
        OneLogin_Saml2_XML.to_etree(raw)
    except Exception as exc:
        raise MalformedMessage(f"hostile or malformed XML: {type(exc).__name__}: {exc}") from exc


def _check_recipients(response: OneLogin_Saml2_Response, data: Mapping[str, Any]) -> None:
    """Exact Destination and Recipient (python3-saml accepts prefixes and substrings)."""
    acs = f"{'https' if data['https'] == 'on' else 'http'}://{data['http_host']}"
    acs += data["script_name"]
    destination = response.document.get("Destination")
    if destination is not None and destination != acs:
        raise InvalidResponse(f"Destination {destination!r} is not {acs!r}", step="destination")
    confirmations = response._query_assertion(
        "/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
    )
    recipients = {node.get("Recipient") for node in confirmations}
    if recipients != {acs}:
        raise InvalidResponse(
            f"Recipient {sorted(map(str, recipients))} is not {acs!r}", step="destination"
        )


def _identity(provider: IdentityProvider, response: OneLogin_Saml2_Response) -> SamlIdentity:
    attributes: dict[str, list[str]] = {
        name: [str(v) for v in values if v is not None]
        for name, values in response.get_attributes().items()
    }
    mapping = attribute_map(provider)
    name_id = response.get_nameid()
    name_id_format = response.get_nameid_format()
    email = _first(attributes, mapping["email"])
    if email is None and "@" in (name_id or "") and name_id_format in _EMAIL_LIKE_NAMEID:
        email = name_id
    display_name = _first(attributes, mapping["display_name"]) or " ".join(
        part
        for part in (
            _first(attributes, mapping["given_name"]),
            _first(attributes, mapping["family_name"]),
        )
        if part
    )
    assertion_id = response.get_assertion_id()
    expires = response.get_assertion_not_on_or_after()
    if not assertion_id or len(assertion_id) > MAX_ASSERTION_ID or expires is None:
        raise InvalidResponse("assertion ID missing or too long, or no NotOnOrAfter")
    return SamlIdentity(
        issuer=provider.entity_id,
        name_id=name_id,
        name_id_format=name_id_format,
        email=email,
        display_name=display_name or None,
        attributes=attributes,
        session_index=response.get_session_index(),
        assertion_id=assertion_id,
        not_on_or_after=dt.datetime.fromtimestamp(expires, dt.UTC),
        in_response_to=response.get_in_response_to(),
    )


_EMAIL_LIKE_NAMEID = {Saml.NAMEID_EMAIL_ADDRESS, Saml.NAMEID_UNSPECIFIED, None}


def _first(attributes: Mapping[str, list[str]], names: list[str]) -> str | None:
    folded = {name.casefold(): values for name, values in attributes.items()}
    for name in names:
        for value in folded.get(name.casefold(), []):
            if value.strip():
                return value.strip()
    return None
