"""Where a signed-in user may be sent: only URLs the organization allowed (no open redirect).

An allowed entry is an absolute ``http(s)`` URL prefix (``https://app.example.com`` or
``https://app.example.com/portal/``). A target is allowed when it has the entry's scheme,
host and port, no user-info, and its path starts with the entry's path. A path starting
with a single ``/`` stays on seatgate's own public origin. Everything else is refused: other
hosts, ``//host``, backslashes, control characters, ``javascript:`` and friends.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from app.errors import InvalidInput
from sso.errors import ForbiddenRedirect

_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_TARGET_LENGTH = 2048  # the column that keeps it with the AuthnRequest


def parse_allowed_redirect(entry: str) -> str:
    """Validate an operator-given allowed prefix and return it normalized."""
    parts = _absolute(entry.strip())
    if parts is None or parts.query or parts.fragment:
        raise InvalidInput(
            f"Allowed redirect {entry!r} must be an absolute http(s) URL prefix without "
            "user-info, query or fragment."
        )
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, "", ""))


def safe_next(target: str | None, *, base_url: str, allowed: list[str]) -> str:
    """The URL to send the user to after sign-in, or :class:`ForbiddenRedirect`."""
    home = base_url.rstrip("/") + "/"
    if not target:
        return home
    if len(target) > MAX_TARGET_LENGTH or _UNSAFE.search(target):
        raise ForbiddenRedirect(f"unsafe or overlong redirect target {target[:200]!r}")
    if target.startswith("/") and not target.startswith("//"):
        origin = urlsplit(base_url)
        return urlunsplit((origin.scheme, origin.netloc, "", "", "")) + target
    parts = _absolute(target)
    if parts is None:
        raise ForbiddenRedirect(f"redirect target {target!r} is not an absolute http(s) URL")
    for entry in [home, *allowed]:
        if _within(parts, urlsplit(entry)):
            return target
    raise ForbiddenRedirect(f"redirect target {target!r} is not allowed for this organization")


def _absolute(url: str) -> SplitResult | None:
    if _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return parts


def _within(target: SplitResult, entry: SplitResult) -> bool:
    if target.scheme != entry.scheme or target.hostname != entry.hostname:
        return False
    if _port(target) != _port(entry):
        return False
    prefix = entry.path
    if not prefix or prefix == "/":
        return True
    path = target.path or "/"
    return path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")


def _port(parts: SplitResult) -> int:
    return parts.port or _DEFAULT_PORTS[parts.scheme]
