"""``app.outbound``: URLs others chose never reach an internal address, in any spelling.

Every call here goes to a real HTTP(S) server on 127.0.0.1 (or ::1), or nowhere: a public
address is only ever checked, never connected to. DNS answers that no resolver on this machine
gives (a name that rebinds between two lookups) come from a stand-in for ``getaddrinfo``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app import outbound
from app.errors import InvalidInput
from tests.app.alerts.peers import WebhookReceiver, start_receiver
from tests.sso.idp import make_key_pair

INTERNAL_ADDRESSES = [
    "127.0.0.1",  # loopback
    "127.255.0.9",
    "10.1.2.3",  # RFC 1918
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",  # noqa: S104 - unspecified (connects to this host)
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fe80::1",  # link-local
    "fc00::1",  # unique local (fc00::/7)
    "fd12:3456::1",
    "fec0::1",  # deprecated site-local
    "ff02::1",  # multicast
    "ff0e::1",
    "::ffff:127.0.0.1",  # IPv4-mapped: connects to 127.0.0.1
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::7f00:1",  # IPv4-compatible (reserved)
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",  # local-use NAT64
    "2001:db8::1",  # documentation
    "2001::1",  # Teredo
    "100::1",  # discard-only
]
PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:808:808::",  # 6to4 of a public address
    "64:ff9b::808:808",  # NAT64 of a public address (DNS64 networks)
]
# Hosts that name 127.0.0.1 or ::1, spelled every way the resolver (and so the connection) reads.
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "017700000001",
    "127.1",
    "0x7f.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
]


@pytest.mark.parametrize("address", INTERNAL_ADDRESSES)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_ordinary_internet_addresses_are_public(address: str) -> None:
    assert outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_loopback_is_refused_at_registration(host: str) -> None:
    with pytest.raises(outbound.AddressNotAllowed, match="not a public internet address"):
        outbound.check_url(f"http://{host}:5432/hook", allow_private_addresses=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "http://100.64.12.1/",
        "http://0.0.0.0:8000/",
        "http://224.0.0.251/",
        "http://[fe80::1%25lo]/",
        "http://[fd00::1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
    ],
)
def test_internal_literals_are_refused_at_registration(url: str) -> None:
    with pytest.raises(outbound.AddressNotAllowed):
        outbound.check_url(url, allow_private_addresses=False)


def test_a_name_that_does_not_resolve_is_refused_like_an_internal_one() -> None:
    """Otherwise registering names would tell which internal names exist (they are refused)."""
    with pytest.raises(outbound.AddressNotAllowed) as refused:
        outbound.check_url("https://no-such-host.invalid/hook", allow_private_addresses=False)
    with pytest.raises(outbound.AddressNotAllowed) as internal:
        outbound.check_url("https://localhost/hook", allow_private_addresses=False)
    assert refused.value.message.replace("no-such-host.invalid", "localhost") == (
        internal.value.message
    )


def test_a_public_address_is_accepted_and_the_setting_lifts_the_rule() -> None:
    outbound.check_url("https://93.184.216.34/hook", allow_private_addresses=False)
    outbound.check_url("http://127.0.0.1:5432/", allow_private_addresses=True)
    outbound.check_url("https://no-such-host.invalid/", allow_private_addresses=True)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "https:///path", "http://exa mple.com/"])
def test_what_is_not_an_http_url_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput):
        outbound.check_url(url, allow_private_addresses=True)


def test_the_message_never_says_what_a_name_resolved_to() -> None:
    with pytest.raises(outbound.AddressNotAllowed) as refused:
        outbound.check_url("http://localhost/", allow_private_addresses=False)
    assert "127.0.0.1" not in refused.value.message and "::1" not in refused.value.message


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    yield from _serve(address="127.0.0.1")


def _serve(**options: Any) -> Iterator[WebhookReceiver]:
    receiver, thread = start_receiver(**options)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(timeout=5)


def _post(url: str, *, allow_private_addresses: bool, **options: Any) -> int:
    return outbound.post(
        url,
        body=b'{"hello": "world"}',
        headers={"Content-Type": "application/json"},
        timeout=5,
        allow_private_addresses=allow_private_addresses,
        **options,
    )


@pytest.mark.parametrize("host", [h for h in LOOPBACK_SPELLINGS if h != "[::1]"])
def test_a_send_to_loopback_is_refused_and_nothing_arrives(
    receiver: WebhookReceiver, host: str
) -> None:
    with pytest.raises(outbound.AddressNotAllowed):
        _post(receiver.url(host=host), allow_private_addresses=False)
    assert receiver.calls == []
    # The same URL reaches the receiver once the setting allows it: the refusal was the guard.
    assert _post(receiver.url(host=host), allow_private_addresses=True) == 200
    [call] = receiver.calls
    assert call.body == b'{"hello": "world"}' and call.headers["Host"] == f"{host}:{receiver.port}"


def test_a_send_to_ipv6_loopback_is_refused_and_pinned_when_allowed() -> None:
    for receiver in _serve(address="::1"):
        url = f"http://[::1]:{receiver.port}/hook"
        with pytest.raises(outbound.AddressNotAllowed):
            _post(url, allow_private_addresses=False)
        assert receiver.calls == []
        assert _post(url, allow_private_addresses=True) == 200
        assert receiver.calls[0].headers["Host"] == f"[::1]:{receiver.port}"


Resolver = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``rebind.test`` answers 127.0.0.1 the first time and 127.0.0.2 ever after, as a hostile
    DNS server would answer a check and then the connection; returns the lookups made."""
    lookups: list[str] = []
    real: Resolver = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_the_call_goes_to_the_address_that_was_checked(
    receiver: WebhookReceiver, rebinding_dns: list[str]
) -> None:
    """One lookup, then the connection to its answer: a second answer never gets a say."""
    for elsewhere in _serve(address="127.0.0.2", port=receiver.port):
        assert _post(receiver.url(host="rebind.test"), allow_private_addresses=True) == 200
        assert rebinding_dns == ["rebind.test"]
        [call] = receiver.calls
        assert call.headers["Host"] == f"rebind.test:{receiver.port}"
        assert elsewhere.calls == []


def test_redirects_are_never_followed(receiver: WebhookReceiver) -> None:
    receiver.planned = [307]
    assert _post(receiver.url(), allow_private_addresses=True) == 307
    assert len(receiver.calls) == 1


def test_proxy_settings_in_the_environment_are_ignored(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would resolve the name again, after the check: the call goes direct."""
    for proxy in _serve(address="127.0.0.1"):
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url(path=""))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert _post(receiver.url(host="localhost"), allow_private_addresses=True) == 200
        assert len(receiver.calls) == 1 and proxy.calls == []


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Self-anchored certificates naming ``localhost`` only (not 127.0.0.1), and another name."""
    directory = tmp_path_factory.mktemp("outbound-tls")
    files = {}
    for name in ("localhost", "elsewhere.test"):
        pair = make_key_pair(directory, name, serves_name=name)
        files[name] = (pair.cert_file, pair.key_file)
    return files


def _tls_receiver(files: tuple[Path, Path]) -> Iterator[WebhookReceiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*files)
    yield from _serve(address="127.0.0.1", tls=context)


def test_tls_checks_the_certificate_against_the_name_and_sends_it_as_sni(
    tls_files: dict[str, tuple[Path, Path]],
) -> None:
    """Pinned to 127.0.0.1, yet verified as ``localhost``: the certificate does not name the
    address, so only a check against the URL's name can pass."""
    cert_file = str(tls_files["localhost"][0])
    for receiver in _tls_receiver(tls_files["localhost"]):
        url = receiver.url(host="localhost")
        assert _post(url, allow_private_addresses=True, verify=cert_file) == 200
        assert receiver.server_names == ["localhost"]
        assert receiver.calls[0].headers["Host"] == f"localhost:{receiver.port}"
        with pytest.raises(requests.exceptions.SSLError):  # the address is not the name
            _post(receiver.url(host="127.0.0.1"), allow_private_addresses=True, verify=cert_file)
        assert len(receiver.calls) == 1


def test_tls_refuses_a_certificate_for_another_name(
    tls_files: dict[str, tuple[Path, Path]],
) -> None:
    cert_file = str(tls_files["elsewhere.test"][0])
    for receiver in _tls_receiver(tls_files["elsewhere.test"]):
        with pytest.raises(requests.exceptions.SSLError):
            _post(receiver.url(host="localhost"), allow_private_addresses=True, verify=cert_file)
        assert receiver.calls == []


def test_a_name_that_does_not_resolve_at_send_is_a_connection_error() -> None:
    """Retried like any network failure (DNS may be down); not a refusal."""
    with pytest.raises(requests.ConnectionError):
        _post("https://no-such-host.invalid/hook", allow_private_addresses=False)


@pytest.mark.parametrize(
    ("host", "address"),
    [("0x7f000001", "127.0.0.1"), ("::ffff:10.0.0.1", "::ffff:a00:1"), ("localhost", None)],
)
def test_literal_addresses_are_read_without_dns(host: str, address: str | None) -> None:
    expected = None if address is None else ipaddress.ip_address(address)
    assert outbound.literal_address(host) == expected
