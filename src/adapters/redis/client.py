"""The Redis connection, its health, and logging an outage once instead of per call."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# What "Redis does not answer" looks like; other Redis errors are bugs and propagate.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def create_redis(url: str) -> aioredis.Redis:
    """Short timeouts: a node without Redis must answer its own clients quickly."""
    return aioredis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=15,
        decode_responses=True,
    )


class OutageLog:
    """Logs the first failure of an outage and the recovery, nothing in between."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            self._logger.error("%s: Redis unavailable (%s); serving this node's connections "
                               "only until it returns", self._what, exc)

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            self._logger.warning("%s: Redis is back", self._what)


class RedisHealthProbe:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def ready(self) -> bool:
        try:
            return bool(await self._client.ping())
        except REDIS_DOWN:
            return False
