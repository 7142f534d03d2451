"""Calls seatgate makes to URLs that someone else chose: never to an internal address.

An owner's webhook (and the operators' drift webhook) is a URL seatgate POSTs to from inside
its own network. Left alone, such a URL could name the loopback interface, a database port, a
cloud metadata service (169.254.169.254) or any private host, and the answer (or its absence)
would tell whoever registered it what lives there. So every such call goes through this module:

- :func:`check_url` when a URL is registered: its host must be, or resolve to, only public
  internet addresses (:func:`is_public`). Spelling does not matter (``0x7f000001``,
  ``2130706433``, ``0177.0.0.1``, ``127.1``, ``[::ffff:127.0.0.1]``, a name in DNS): the host is
  resolved exactly as the connection would resolve it and the resulting addresses are checked.
  A host that does not resolve is refused with the same message, so registration cannot be
  used to probe which internal names exist.
- :func:`post` at every send: resolves the host once, checks the addresses again (DNS may
  have changed since registration), and connects to the address it checked, never to a second
  lookup's answer, so DNS rebinding cannot slip an internal address in between. The ``Host``
  header, TLS SNI and the certificate check still use the URL's host name. Redirects are never
  followed, and proxy environment variables and ``.netrc`` are ignored (a proxy would resolve
  the name again; ``.netrc`` would hand its credentials to a stranger's server).

``allow_private_addresses`` (the ``webhooks.allow_private_addresses`` setting, refused in
production) lifts the address rule for development and tests, whose receivers listen on
127.0.0.1; the connection is still pinned to the address that was resolved.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from app.errors import InvalidInput

if TYPE_CHECKING:  # the stubs' names for what requests hands its pool manager
    from requests.adapters import _HostParams, _PoolKwargs

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What a refused send records as its delivery state: it names no address and no status, so it
# tells the URL's owner nothing about what answers inside seatgate's network.
REFUSED = "refused: address not allowed"

# RFC 6052's well-known NAT64 prefix: a translator on the path would carry a connection to the
# IPv4 address in the last 32 bits, so that address is what decides.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressNotAllowed(InvalidInput):
    """The URL's host is, or resolves to, an address seatgate never calls (or does not resolve
    at registration). The message names the host as given, never what it resolved to."""


@dataclass(frozen=True)
class Destination:
    """A URL whose host was resolved and checked: the connection goes to ``address``."""

    url: str  # as requests prepares it (an internationalized host IDNA-encoded)
    hostname: str  # the URL's host: Host header, TLS SNI and the certificate check use it
    port: int
    address: IPAddress

    @property
    def host_header(self) -> str:
        return urlsplit(self.url).netloc


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is an ordinary public internet address seatgate may connect to.

    Refused: loopback, private (RFC 1918, fc00::/7), link-local (169.254.0.0/16, fe80::/10),
    shared/CGNAT (100.64.0.0/10), unspecified, multicast, reserved, documentation and
    benchmarking ranges, deprecated site-local (fec0::/10). ``is_global`` alone is not enough on
    every supported Python: it counts multicast and fec0::/10 as global, and before 3.13 it
    judges an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``, which connects to 127.0.0.1) by
    the IPv6 range instead of the IPv4 address inside. An address that embeds an IPv4 address
    the network delivers to (IPv4-mapped, 6to4, NAT64) is judged by that IPv4 address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def check_url(url: str, *, allow_private_addresses: bool) -> None:
    """Refuse, at registration, a URL :func:`post` would refuse to call.

    Raises :class:`InvalidInput` for a URL that is not absolute http(s) with a host, and
    :class:`AddressNotAllowed` for a host that is not public or does not resolve. With
    ``allow_private_addresses`` the host is not resolved at all (any address will do).
    """
    prepared_url, hostname, port = _parse(url)
    if allow_private_addresses:
        return
    try:
        _resolve(prepared_url, hostname, port, allow_private_addresses=False)
    except (AddressNotAllowed, requests.ConnectionError):
        raise _refusal(hostname) from None


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allow_private_addresses: bool,
    verify: bool | str = True,
) -> int:
    """POST ``body`` to ``url``, connected to the address just checked; returns the status.

    Raises :class:`AddressNotAllowed` (nothing was sent) or a ``requests.RequestException``
    (the host did not resolve, the connection or TLS failed, the timeout passed). The answer's
    body is never read. ``verify`` is requests' own: certificates are checked against
    certifi's bundle unless a CA bundle path is given.
    """
    destination = _resolve(*_parse(url), allow_private_addresses=allow_private_addresses)
    with requests.Session() as session:
        session.trust_env = False
        adapter = _PinnedAdapter(destination)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        response = session.post(
            destination.url,
            data=body,
            headers={**headers, "Host": destination.host_header},
            timeout=timeout,
            allow_redirects=False,
            verify=verify,
            stream=True,
        )
        response.close()
        return response.status_code


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells (in any form the resolver accepts), without asking DNS;
    ``None`` for a name. For checking configuration at start-up, where no lookup belongs."""
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return _address_of(found[0][4]) if found else None


def _parse(url: str) -> tuple[str, str, int]:
    """The URL as requests will send it, its host (IDNA-encoded, lower case) and port."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise InvalidInput(f"Not an absolute http(s) URL: {url!r}.")
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
        prepared_url = prepared.url or ""
        prepared_parts = urlsplit(prepared_url)
        hostname, port = prepared_parts.hostname, prepared_parts.port
    except (requests.RequestException, ValueError, UnicodeError) as exc:
        raise InvalidInput(f"Not a usable http(s) URL: {url!r}.") from exc
    if not hostname:
        raise InvalidInput(f"Not an absolute http(s) URL: {url!r}.")
    default_port = 443 if prepared_parts.scheme == "https" else 80
    return prepared_url, hostname, port or default_port


def _resolve(
    prepared_url: str, hostname: str, port: int, *, allow_private_addresses: bool
) -> Destination:
    """Resolve the host once and check every address it has; the first is the one to connect
    to. Raises :class:`AddressNotAllowed`, or ``requests.ConnectionError`` if it does not
    resolve."""
    try:
        found = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise requests.ConnectionError(f"Could not resolve the host {hostname!r}.") from exc
    addresses = [_address_of(sockaddr) for _family, _type, _proto, _name, sockaddr in found]
    if not addresses:
        raise requests.ConnectionError(f"Could not resolve the host {hostname!r}.")
    if not allow_private_addresses and not all(is_public(address) for address in addresses):
        raise _refusal(hostname)
    return Destination(prepared_url, hostname, port, addresses[0])


def _address_of(sockaddr: tuple[Any, ...]) -> IPAddress:
    # getaddrinfo reports an IPv6 scope apart (4th item), so the text is a plain address.
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


def _refusal(hostname: str) -> AddressNotAllowed:
    return AddressNotAllowed(
        f"The host {hostname!r} is not a public internet address (nor a name that resolves "
        "only to public addresses): seatgate never calls loopback, private, link-local, shared "
        "(CGNAT), multicast or reserved addresses."
    )


class _PinnedAdapter(HTTPAdapter):
    """requests' own transport, connected to a :class:`Destination`'s checked address.

    urllib3 opens the connection to the address instead of resolving the name; TLS keeps
    the name for SNI (``server_hostname``) and for matching the certificate
    (``assert_hostname``), and the caller sends the name in ``Host``. The adapter serves only
    its destination: a request for any other host is refused rather than sent unchecked.
    """

    def __init__(self, destination: Destination) -> None:
        super().__init__(max_retries=0)
        self._destination = destination

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        destination = self._destination
        if host_params["host"] != destination.hostname:
            raise requests.exceptions.InvalidURL(f"{request.url!r} is not the checked URL.")
        if host_params["scheme"] == "https":
            tls = cast(dict[str, Any], pool_kwargs)  # urllib3 takes more keys than the stubs list
            tls["server_hostname"] = destination.hostname
            tls["assert_hostname"] = destination.hostname
        address = destination.address
        host_params["host"] = f"[{address}]" if address.version == 6 else str(address)
        host_params["port"] = destination.port
        return host_params, pool_kwargs
