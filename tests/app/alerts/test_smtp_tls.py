"""E-mail alerts over TLS, against a real SMTP server (aiosmtpd) with its own certificate.

seatgate verifies the server's certificate with the system's trust store; the test trusts
its throwaway certificate through ``SSL_CERT_FILE`` (which OpenSSL's default verify paths
honour), exactly as an operator with a private CA would.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.alerts.mail import send
from app.settings import SmtpSettings
from tests.app.alerts.peers import SmtpServer
from tests.peers import free_port
from tests.sso.idp import make_key_pair

CREDENTIALS = ("alerts", "s3cret")
# aiosmtpd warns about AUTH without STARTTLS even when the whole connection is TLS (smtps).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own trust anchor) and its key."""
    pair = make_key_pair(tmp_path_factory.mktemp("smtp-tls"), "smtp", serves_ip="127.0.0.1")
    return pair.cert_file, pair.key_file


class TlsSmtpServer(SmtpServer):
    """The alert tests' SMTP server, speaking TLS: STARTTLS required, or TLS from the start."""

    def __init__(self, certificate: tuple[Path, Path], *, implicit: bool) -> None:
        super().__init__(credentials=CREDENTIALS)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(*certificate)
        self.implicit = implicit

    def start(self) -> None:
        options: dict[str, Any] = {"authenticator": self._authenticate, "auth_required": True}
        if self.implicit:  # aiosmtpd does not count TLS from the start as TLS for AUTH
            options.update(ssl_context=self.context, auth_require_tls=False)
        else:
            options.update(tls_context=self.context, require_starttls=True)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()


@pytest.fixture
def trusted(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = "Seats", "a@b.test", "owner@acme.example.com"
    mail.set_content("9 of 10 seats are in use.")
    return mail


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[TlsSmtpServer]:
    server = TlsSmtpServer(certificate, implicit=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def implicit_tls_server(certificate: tuple[Path, Path]) -> Iterator[TlsSmtpServer]:
    server = TlsSmtpServer(certificate, implicit=True)
    server.start()
    yield server
    server.stop()


def test_starttls_then_login_delivers(starttls_server: TlsSmtpServer, trusted: None) -> None:
    user, password = CREDENTIALS
    url = f"smtp://{user}:{password}@127.0.0.1:{starttls_server.port}?starttls=true"
    send(SmtpSettings(url=url, timeout=5), message())
    [received] = starttls_server.received
    assert received.recipients == ["owner@acme.example.com"]
    assert received.message["Subject"] == "Seats"


def test_tls_from_the_first_byte_delivers(
    implicit_tls_server: TlsSmtpServer, trusted: None
) -> None:
    user, password = CREDENTIALS
    url = f"smtps://{user}:{password}@127.0.0.1:{implicit_tls_server.port}"
    send(SmtpSettings(url=url, timeout=5), message())
    assert len(implicit_tls_server.received) == 1


def test_an_untrusted_certificate_is_refused_not_ignored(
    starttls_server: TlsSmtpServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the certificate in the trust store the mail is not sent (the outbox retries
    it later): credentials never go to a server that could not prove who it is."""
    empty = tmp_path / "no-ca.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    user, password = CREDENTIALS
    url = f"smtp://{user}:{password}@127.0.0.1:{starttls_server.port}?starttls=true"
    with pytest.raises(ssl.SSLCertVerificationError):
        send(SmtpSettings(url=url, timeout=5), message())
    assert starttls_server.received == []


def test_starttls_asked_but_not_offered_fails_instead_of_sending_in_clear() -> None:
    plain = SmtpServer()  # no TLS at all
    plain.start()
    try:
        url = f"smtp://127.0.0.1:{plain.port}?starttls=true"
        with pytest.raises(smtplib.SMTPNotSupportedError):
            send(SmtpSettings(url=url, timeout=5), message())
        assert plain.received == []
    finally:
        plain.stop()


def test_nothing_listens_is_an_os_error_the_outbox_retries() -> None:
    with pytest.raises(OSError):
        send(SmtpSettings(url=f"smtp://127.0.0.1:{free_port()}", timeout=5), message())
