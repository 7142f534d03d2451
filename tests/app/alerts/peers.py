"""Real peers on 127.0.0.1 for alert tests: an SMTP server (aiosmtpd) and a webhook receiver."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.peers import free_port


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage


class SmtpServer:
    """An SMTP server that can be stopped and started again on the same port."""

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.credentials = credentials
        self.received: list[Received] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        if self.credentials:
            user, password = self.credentials
            return f"smtp://{user}:{password}@127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        user, password = self.credentials
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok)

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.credentials:
            options = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.recipients]


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each POST with the next planned status (then 200) and records every call;
    over TLS, also the name each client asked for (SNI)."""

    server: ThreadingHTTPServer
    scheme: str = "http"
    calls: list[Call] = field(default_factory=list)
    planned: list[int] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", *, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def start_receiver(
    *, address: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
) -> tuple[WebhookReceiver, threading.Thread]:
    receiver: WebhookReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.calls.append(Call(self.path, dict(self.headers.items()), body))
            status = receiver.planned.pop(0) if receiver.planned else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

    server = Server((address, port), Handler)
    receiver = WebhookReceiver(server, scheme="http" if tls is None else "https")
    if tls is not None:

        def record_name(_socket: Any, name: str | None, _context: ssl.SSLContext) -> None:
            receiver.server_names.append(name)

        tls.sni_callback = record_name
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return receiver, thread
