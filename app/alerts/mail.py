"""E-mail alerts over SMTP (standard library ``smtplib``).

``SEATGATE_SMTP_URL`` says where and how: ``smtp://host:25``, ``smtp://user:pass@host:587
?starttls=true`` (upgrade with STARTTLS, then log in) or ``smtps://user:pass@host:465`` (TLS
from the first byte). User and password are percent-decoded, so ``@`` in a user name is
written ``%40``.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from app.alerts.messages import RenderedAlert
from app.settings import SmtpSettings

TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    implicit_tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    return SmtpServer(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=query.get("starttls", ["false"])[-1].lower() in TRUE_WORDS,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_message(
    rendered: RenderedAlert, *, sender: str, recipient: str, message_id: str
) -> EmailMessage:
    """Plain text with an HTML alternative; ``message_id`` is stable across retries."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand one message to the SMTP server; raises ``OSError``/``SMTPException`` on failure."""
    server = parse_smtp_url(settings.url)
    context = ssl.create_default_context()
    connection: smtplib.SMTP
    if server.implicit_tls:
        connection = smtplib.SMTP_SSL(
            server.host, server.port, timeout=settings.timeout, context=context
        )
    else:
        connection = smtplib.SMTP(server.host, server.port, timeout=settings.timeout)
    with connection:
        if server.starttls:
            connection.starttls(context=context)
        if server.username:
            connection.login(server.username, server.password or "")
        connection.send_message(message)
