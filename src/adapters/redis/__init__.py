"""Redis adapters: what several server nodes share (presence, rate limits, typing throttle).

Every adapter degrades instead of failing when Redis goes away: a node keeps serving its own
connections, logs the outage once, and catches up by itself when Redis returns.
"""

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
