"""Request budgets: a fixed window (one minute unless told otherwise) per key, such as a
bearer token, or an e-mail address and a client asking for sign-in links.

With a Redis URL configured every instance counts in the same Redis key, so a client cannot
multiply its budget by spreading requests over instances; without one each process counts on
its own (the budget is then per process, which still stops a runaway client). If Redis is
unreachable the process falls back to its own count rather than refusing or admitting
everyone: a Redis outage must not become a seatgate outage.

Tokens are never stored: the key is a SHA-256 prefix of the presented token.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from typing import Protocol

import redis

log = logging.getLogger("seatgate.rate_limits")
WINDOW_SECONDS = 60


class Counter(Protocol):
    def increment(self, key: str, window: int) -> int:
        """Count one request of ``key`` in ``window`` and return the window's total."""


class ProcessCounter:
    """Counts in this process; old windows are dropped as time moves on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def increment(self, key: str, window: int) -> int:
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]


class RedisCounter:
    """Counts in Redis (``INCR`` + ``EXPIRE`` in one round trip), shared by every instance."""

    def __init__(self, url: str, window_seconds: int = WINDOW_SECONDS) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._window_seconds = window_seconds

    def increment(self, key: str, window: int) -> int:
        name = f"seatgate:rate:{self._window_seconds}:{window}:{key}"
        pipeline = self._client.pipeline()
        pipeline.incr(name)
        pipeline.expire(name, self._window_seconds * 2)
        count, _ = pipeline.execute()
        return int(count)


class RateLimiter:
    """``limit`` requests per key per window (a minute by default); :meth:`check` says how
    long to wait if over."""

    def __init__(
        self, limit: int, redis_url: str = "", window_seconds: int = WINDOW_SECONDS
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._shared: Counter | None = (
            RedisCounter(redis_url, window_seconds) if redis_url else None
        )
        self._local = ProcessCounter()

    def check(self, token: str, now: float | None = None) -> int | None:
        """Count a request; ``None`` if within budget, else the seconds until the next window."""
        if self.limit <= 0:
            return None
        now = time.time() if now is None else now
        window = int(now // self.window_seconds)
        key = hashlib.sha256(token.encode()).hexdigest()[:32]
        count = self._count(key, window)
        if count <= self.limit:
            return None
        return max(1, math.ceil((window + 1) * self.window_seconds - now))

    def _count(self, key: str, window: int) -> int:
        if self._shared is not None:
            try:
                return self._shared.increment(key, window)
            except redis.RedisError as exc:
                log.warning(
                    "rate limit store unreachable; counting locally", extra={"error": str(exc)}
                )
        return self._local.increment(key, window)
