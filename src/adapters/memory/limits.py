"""Rate limits and the typing throttle for one server node."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from chat_server.application.ports import RateKind, RateLimit
from chat_server.domain.model import UserRef, UserType

# Forget idle entries once this many are held, so memory stays bounded by active users.
_PRUNE_ABOVE = 10_000


class InMemoryRateLimiter:
    """Token buckets per (user, kind); a kind without a limit is not limited."""

    def __init__(
        self, limits: Mapping[RateKind, RateLimit | None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._monotonic = monotonic
        # Keyed by the user's parts: a UserRef's hash is Python code, a tuple's is not.
        self._buckets: dict[tuple[UserType, int, RateKind], tuple[float, float]] = {}

    async def acquire(self, user: UserRef, kind: RateKind) -> bool:
        return self._take(user, kind)

    async def acquire_each(self, user: UserRef, kinds: tuple[RateKind, ...]) -> RateKind | None:
        for kind in kinds:
            if not self._take(user, kind):
                return kind
        return None

    def _take(self, user: UserRef, kind: RateKind) -> bool:
        limit = self._limits.get(kind)
        if limit is None:
            return True
        now = self._monotonic()
        key = (user.type, user.id, kind)
        tokens, since = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - since) * limit.per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > _PRUNE_ABOVE:
            self._prune(now)
        return True

    async def charge(self, user: UserRef, kind: RateKind, tokens: int) -> None:
        limit = self._limits.get(kind)
        if limit is None or tokens <= 0:
            return
        now = self._monotonic()
        key = (user.type, user.id, kind)
        left, since = self._buckets.get(key, (float(limit.burst), now))
        left = min(float(limit.burst), left + (now - since) * limit.per_second)
        self._buckets[key] = (max(-float(limit.burst), left - tokens), now)

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no information."""
        for key, (tokens, since) in list(self._buckets.items()):
            limit = self._limits[key[2]]
            assert limit is not None
            if tokens + (now - since) * limit.per_second >= limit.burst:
                del self._buckets[key]


class InMemoryTypingThrottle:
    def __init__(
        self, interval_seconds: float = 2.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval_seconds
        self._monotonic = monotonic
        self._last: dict[tuple[UserRef, str], float] = {}

    async def allow(self, user: UserRef, chat_id: str) -> bool:
        now = self._monotonic()
        key = (user, chat_id)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._last[key] = now
        if len(self._last) > _PRUNE_ABOVE:
            self._last = {k: t for k, t in self._last.items() if now - t < self._interval}
        return True
