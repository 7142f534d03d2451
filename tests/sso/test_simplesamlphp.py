"""End to end against SimpleSAMLphp (Debian's ``simplesamlphp``), a third SAML implementation.

The test starts SimpleSAMLphp's IdP under PHP's built-in web server on 127.0.0.1 (an
ephemeral port), then walks the whole sign-in like a browser: seatgate's login redirect →
the IdP's login form → the auto-submitted POST to seatgate's ACS → a signed-in session.
Needs Debian packages ``simplesamlphp php-cli php-xml php-mbstring``; without them the test
skips with that reason, except in CI where it fails.
"""

from __future__ import annotations

import html
import http.cookiejar
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import Database
from tests.factories import make_org
from tests.peers import find_program, free_port, require_peer
from tests.sso.conftest import BASE_URL
from tests.sso.idp import KeyPair, make_key_pair

SIMPLESAMLPHP_WWW = Path("/usr/share/simplesamlphp/www")
IDP_ENTITY_ID = "urn:seatgate-test:simplesamlphp-idp"
USERNAME, PASSWORD = "alice", "alice-password"
ALICE = "alice@acme.example.com"


def _php() -> str:
    """PHP, once SimpleSAMLphp is known to be installed; else skip (or fail under CI)."""
    php = find_program("php")
    installed = php is not None and SIMPLESAMLPHP_WWW.is_dir()
    require_peer(
        "SAML",
        None
        if installed
        else "SimpleSAMLphp or PHP missing (Debian packages simplesamlphp php-cli php-xml"
        " php-mbstring)",
    )
    assert php is not None
    return php


def _write_config(root: Path, port: int, keys: KeyPair) -> None:
    for name in ("cert", "log", "data", "scratch", "sessions", "metadata"):
        (root / name).mkdir()
    shutil.copy(keys.key_file, root / "cert" / "idp.key")
    shutil.copy(keys.cert_file, root / "cert" / "idp.crt")
    (root / "config.php").write_text(
        f"""<?php
$config = [
    'baseurlpath' => 'http://127.0.0.1:{port}/',
    'certdir' => '{root}/cert/',
    'loggingdir' => '{root}/log/',
    'datadir' => '{root}/data/',
    'tempdir' => '{root}/scratch',
    'metadatadir' => '{root}/metadata/',
    'secretsalt' => 'seatgate-test-salt-0123456789',
    'auth.adminpassword' => 'seatgate-test-admin-password',
    'technicalcontact_name' => 'seatgate tests',
    'technicalcontact_email' => 'tests@example.com',
    'timezone' => 'UTC',
    'logging.level' => 7,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true],
    'session.cookie.secure' => false,
    'session.phpsession.savepath' => '{root}/sessions',
    'store.type' => 'phpsession',
    'metadata.sources' => [['type' => 'flatfile']],
    'language.default' => 'en',
];
"""
    )
    (root / "authsources.php").write_text(
        f"""<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        '{USERNAME}:{PASSWORD}' => [
            'email' => ['{ALICE}'],
            'givenName' => ['Alice'],
            'surname' => ['Example'],
        ],
    ],
];
"""
    )
    (root / "metadata" / "saml20-idp-hosted.php").write_text(
        f"""<?php
$metadata['{IDP_ENTITY_ID}'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'saml20.sign.assertion' => true,
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
];
"""
    )
    (root / "metadata" / "saml20-sp-remote.php").write_text(
        f"""<?php
$metadata['{BASE_URL}/sso/acme/metadata'] = [
    'AssertionConsumerService' => '{BASE_URL}/sso/acme/acs',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    'simplesaml.nameidattribute' => 'email',
];
"""
    )


@pytest.fixture(scope="module")
def simplesamlphp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KeyPair]]:
    """SimpleSAMLphp's IdP on 127.0.0.1: (base URL, its signing key pair)."""
    php = _php()
    root = tmp_path_factory.mktemp("simplesamlphp")
    keys = make_key_pair(root, "ssp-idp")
    port = free_port()
    _write_config(root, port, keys)
    process = subprocess.Popen(
        [php, "-S", f"127.0.0.1:{port}", "-t", str(SIMPLESAMLPHP_WWW)],
        env={**os.environ, "SIMPLESAMLPHP_CONFIG_DIR": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{base}/saml2/idp/metadata.php", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield base, keys
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _form(page: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert action is not None, page[:2000]
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page, flags=re.S
        )
    }
    return html.unescape(action.group(1)), fields


def test_sign_in_through_simplesamlphp(
    simplesamlphp: tuple[str, KeyPair],
    client: FlaskClient,
    runner: FlaskCliRunner,
    database: Database,
    tmp_path: Path,
) -> None:
    idp_base, _keys = simplesamlphp
    make_org(database, "acme", seats=1)
    # Configure from the IdP's own published metadata, as an operator would.
    with urllib.request.urlopen(f"{idp_base}/saml2/idp/metadata.php", timeout=10) as published:
        (tmp_path / "idp.xml").write_bytes(published.read())
    configured = runner.invoke(
        args=["sso", "configure", "acme", "--metadata", str(tmp_path / "idp.xml")]
    )
    assert configured.exit_code == 0, configured.output

    login = client.get("/sso/acme/login", query_string={"next": "/app"})
    assert login.status_code == 302
    assert login.headers["Location"].startswith(f"{idp_base}/saml2/idp/SSOService.php?")
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with browser.open(login.headers["Location"], timeout=10) as page:  # the IdP's login form
        action, fields = _form(page.read().decode())
        form_url = urllib.parse.urljoin(page.geturl(), action)
    fields.update({"username": USERNAME, "password": PASSWORD})
    with browser.open(form_url, data=urllib.parse.urlencode(fields).encode(), timeout=10) as page:
        acs_url, posted = _form(page.read().decode())  # the auto-submitting POST form
    assert acs_url == f"{BASE_URL}/sso/acme/acs"

    signed_in = client.post("/sso/acme/acs", data=posted)
    assert signed_in.status_code == 303, signed_in.get_data(as_text=True)
    assert signed_in.headers["Location"] == f"{BASE_URL}/app"
    claims = client.get("/sso/session").json["claims"]
    assert (claims["email"], claims["name"], claims["org"]) == (ALICE, "Alice Example", "acme")
    # The same SimpleSAMLphp response cannot be used twice.
    assert client.post("/sso/acme/acs", data=posted).status_code == 403
