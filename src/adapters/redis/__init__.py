"""Redis adapters: what several server nodes share (presence, rate limits, typing throttle).

Every adapter degrades instead of failing when Redis goes away: a node keeps serving its own
connections, logs the outage once, and catches up by itself when Redis returns.
"""

from typing import TYPE_CHECKING

from chat_server.adapters.redis.client import OutageLog, RedisHealthProbe, create_redis
from chat_server.adapters.redis.limits import RedisRateLimiter, RedisTypingThrottle
from chat_server.adapters.redis.presence import RedisPresenceRegistry

__all__ = [
    "OutageLog",
    "RedisHealthProbe",
    "RedisPresenceRegistry",
    "RedisRateLimiter",
    "RedisTypingThrottle",
    "create_redis",
]

if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    import redis.asyncio as aioredis

    from chat_server.application.ports import (
        HealthProbe,
        PresenceRegistry,
        RateLimiter,
        TypingThrottle,
    )

    def _conforms(client: aioredis.Redis) -> None:
        presence: PresenceRegistry = RedisPresenceRegistry(client)
        limiter: RateLimiter = RedisRateLimiter(client, {})
        throttle: TypingThrottle = RedisTypingThrottle(client)
        health: HealthProbe = RedisHealthProbe(client)
        del presence, limiter, throttle, health
