"""Per-user rate limits and the typing throttle, shared by every node through Redis."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import redis.asyncio as aioredis

from chat_server.adapters.memory.limits import InMemoryRateLimiter, InMemoryTypingThrottle
from chat_server.adapters.redis.client import REDIS_DOWN, OutageLog
from chat_server.adapters.redis.pipelined import PipelinedRedis
from chat_server.application.ports import RateKind, RateLimit
from chat_server.domain.model import UserRef

logger = logging.getLogger("chat_server.redis")

# Token buckets in one atomic step, on Redis' clock so that nodes need not agree on time.
# KEYS: the buckets, taken in turn; ARGV, four per bucket: rate per second, burst, tokens to
# take, whether to take them whatever is left (a charge: down to minus the burst). Stops at
# the first bucket short of its tokens and returns its position (1-based); 0 when all gave.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[4 * i - 3])
  local burst = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  local force = tonumber(ARGV[4 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil then tokens = burst; at = t end
  tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
  local taken = true
  if force == 1 then tokens = math.max(-burst, tokens - cost)
  elseif tokens >= cost then tokens = tokens - cost
  else taken = false end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(t))
  redis.call('EXPIRE', key, math.ceil(2 * burst / rate) + 1)
  if not taken then return i end
end
return 0
"""


class RedisRateLimiter:
    """Token buckets per (user, kind) in Redis. While Redis is away each node limits with
    its own buckets, so a user keeps a bounded allowance per node."""

    def __init__(self, client: aioredis.Redis | PipelinedRedis,
                 limits: Mapping[RateKind, RateLimit | None]) -> None:
        self._limits = dict(limits)
        self._script = client.register_script(_TAKE)
        self._local = InMemoryRateLimiter(limits)
        self._outage = OutageLog(logger, "rate limits")

    async def acquire(self, user: UserRef, kind: RateKind) -> bool:
        return await self.acquire_each(user, (kind,)) is None

    async def acquire_each(self, user: UserRef, kinds: tuple[RateKind, ...]) -> RateKind | None:
        limited = [(kind, limit) for kind in kinds if (limit := self._limits.get(kind))]
        if not limited:
            return None
        try:
            refused = await self._take(user, limited, 1, force=False)
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return await self._local.acquire_each(user, kinds)
        self._outage.succeeded()
        return refused

    async def charge(self, user: UserRef, kind: RateKind, tokens: int) -> None:
        limit = self._limits.get(kind)
        if limit is None or tokens <= 0:
            return
        try:
            await self._take(user, [(kind, limit)], tokens, force=True)
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            await self._local.charge(user, kind, tokens)
            return
        self._outage.succeeded()

    async def _take(self, user: UserRef, buckets: list[tuple[RateKind, RateLimit]], tokens: int,
                    force: bool) -> RateKind | None:
        """One script call for ``buckets`` in turn; the kind of the first one refused."""
        args: list[float] = []
        for _, limit in buckets:
            args += [limit.per_second, limit.burst, tokens, 1 if force else 0]
        keys = [f"chat:rate:{kind.value}:{user.type.value}:{user.id}" for kind, _ in buckets]
        refused = int(await self._script(keys=keys, args=args))
        return buckets[refused - 1][0] if refused else None


class RedisTypingThrottle:
    """One relayed ``typing`` per interval per user and chat, across nodes (SET NX PX)."""

    def __init__(self, client: aioredis.Redis | PipelinedRedis,
                 interval_seconds: float = 2.0) -> None:
        self._client = client
        self._interval_ms = max(1, int(interval_seconds * 1000))
        self._local = InMemoryTypingThrottle(interval_seconds)
        self._outage = OutageLog(logger, "typing throttle")

    async def allow(self, user: UserRef, chat_id: str) -> bool:
        key = f"chat:typing:{user.type.value}:{user.id}:{chat_id}"
        try:
            allowed = await self._client.set(key, "1", nx=True, px=self._interval_ms)
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return await self._local.allow(user, chat_id)
        self._outage.succeeded()
        return bool(allowed)
