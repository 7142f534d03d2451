"""Signed SAML responses for the ACS benchmark, and python3-saml's stock ACS as the peer.

The identity provider is the test suite's pysaml2 IdP (:mod:`tests.sso.idp`), an independent
implementation, which writes each response and signs its assertion in-process with signxml
(RSA-SHA256, SHA-256 digest, exclusive c14n). Every response has its own ID and assertion ID
(each is accepted once: the replay cache would refuse a second use), and is IdP-initiated, so
no AuthnRequest round trip is needed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from onelogin.saml2.auth import OneLogin_Saml2_Auth

from app.db import Database
from app.organizations import get_organization
from app.settings import DatabaseSettings
from bench.load import LOADER
from sso import compiled_xml
from sso import saml as sp
from sso.providers import IdpDescription, PolicyChange, configure, get_provider
from tests.sso.idp import (
    IDP_ENTITY_ID,
    IDP_SLO_URL,
    IDP_SSO_URL,
    KeyPair,
    TestIdentityProvider,
    encode,
    make_key_pair,
)


def configure_idp(
    database: Database, slug: str, *, base_url: str, secret_key: str, keys: KeyPair
) -> tuple[str, dict[str, Any]]:
    """Pin the IdP's key for ``slug``, allow IdP-initiated sign-in; return the SP metadata and
    the python3-saml settings dict the stock peer uses (the same settings seatgate builds)."""
    with database.unit_of_work() as session:
        organization = get_organization(session, slug)
        configure(
            session,
            organization,
            description=IdpDescription(
                entity_id=IDP_ENTITY_ID,
                sso_url=IDP_SSO_URL,
                slo_url=IDP_SLO_URL,
                certificates=[keys.certificate],
            ),
            change=PolicyChange(allow_idp_initiated=True),
            secret_key=secret_key,
            actor=LOADER,
        )
    with database.unit_of_work(write=False) as session:
        provider = get_provider(session, get_organization(session, slug))
        settings = sp.saml_settings(provider, sp.SpEndpoints(base_url, slug), secret_key)
        metadata = sp.sp_metadata(settings)
        settings_dict = _settings_dict(provider, sp.SpEndpoints(base_url, slug), secret_key)
    return metadata, settings_dict


def _settings_dict(provider: Any, endpoints: sp.SpEndpoints, secret_key: str) -> dict[str, Any]:
    """The dict seatgate hands python3-saml (read back from the settings object it builds)."""
    settings = sp.saml_settings(provider, endpoints, secret_key)
    return {
        "strict": settings.is_strict(),
        "debug": False,
        "sp": settings.get_sp_data(),
        "idp": settings.get_idp_data(),
        "security": settings.get_security_data(),
    }


def new_keys(directory: Path) -> KeyPair:
    return make_key_pair(directory, "bench-idp")


_IDP: TestIdentityProvider | None = None


def _init_worker(keys: KeyPair, metadata: str) -> None:
    global _IDP
    _IDP = TestIdentityProvider(keys, [metadata])


def _one(arguments: tuple[str, str, str]) -> str:
    email, acs_url, sp_entity_id = arguments
    assert _IDP is not None
    xml = _IDP.response_xml(
        email=email, acs_url=acs_url, sp_entity_id=sp_entity_id, in_response_to=None
    )
    return encode(xml)


def make_responses(
    keys: KeyPair, metadata: str, *, base_url: str, slug: str, emails: Sequence[str], workers: int
) -> list[str]:
    """One signed, base64-encoded response per e-mail address."""
    root = f"{base_url.rstrip('/')}/sso/{slug}"
    jobs = [(email, f"{root}/acs", f"{root}/metadata") for email in emails]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(keys, metadata)) as pool:
        return list(pool.map(_one, jobs, chunksize=64))


def stock_request_data(base_url: str, slug: str, encoded: str) -> dict[str, Any]:
    return sp.request_data(sp.SpEndpoints(base_url, slug), "acs", form={"SAMLResponse": encoded})


def stock_process_responses(
    settings: dict[str, Any], base_url: str, slug: str, responses: Sequence[str]
) -> tuple[int, float]:
    """python3-saml as its own demo uses it: a new ``OneLogin_Saml2_Auth`` from the settings
    dict and ``process_response()`` per response. Returns (accepted, seconds)."""
    if compiled_xml.installed():
        raise RuntimeError("the stock peer must run without seatgate's compiled schemas")
    accepted = 0
    started = time.perf_counter()
    for encoded in responses:
        auth = OneLogin_Saml2_Auth(stock_request_data(base_url, slug, encoded), settings)
        auth.process_response()
        if not auth.get_errors() and auth.is_authenticated():
            accepted += 1
    return accepted, time.perf_counter() - started


def seatgate_validate_responses(
    database_url: str, base_url: str, slug: str, secret_key: str, responses: Sequence[str]
) -> tuple[int, float]:
    """seatgate's own validation step alone, as a warm worker runs it (settings and compiled
    schemas cached): :func:`sso.saml.read_response` per response. Returns (accepted, seconds).

    Call it in a process of its own: it installs the compiled-schema validator.
    """
    compiled_xml.install()
    database = Database(DatabaseSettings(url=database_url))
    endpoints = sp.SpEndpoints(base_url, slug)
    accepted = 0
    with database.unit_of_work(write=False) as session:
        provider = get_provider(session, get_organization(session, slug))
        started = time.perf_counter()
        for encoded in responses:
            settings = sp.saml_settings(provider, endpoints, secret_key)
            data = sp.request_data(endpoints, "acs", form={"SAMLResponse": encoded})
            sp.read_response(provider, settings, data, encoded)
            accepted += 1
        elapsed = time.perf_counter() - started
    database.dispose()
    return accepted, elapsed
