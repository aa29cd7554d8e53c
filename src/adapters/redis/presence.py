"""Presence shared by every node: connections held in Redis under leases this node renews.

Per (channel, user) a sorted set holds connection ids scored by lease expiry (ms on Redis'
clock), and a flag says whether the user counts as connected; a global index of leases lets
any node find the connections of a node that died, whose leases then run out. The flag makes
"first connection" (0 -> 1) and "last connection" (1 -> 0) happen exactly once per period,
whichever node sees them.

The same scripts keep the user-to-node map of cross-node delivery (``fanout.py``): per
(channel, user) a sorted set of ``node|connection id`` scored by the same lease expiry, so
that it is renewed, re-created after an outage and runs out with the leases themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

import redis.asyncio as aioredis

from chat_server.adapters.redis.client import REDIS_DOWN, OutageLog
from chat_server.adapters.redis.pipelined import PipelinedRedis
from chat_server.application.ports import Channel, ExpiredConnection
from chat_server.domain.model import UserRef, UserType

logger = logging.getLogger("chat_server.redis")

INDEX = "chat:presence:leases"
POLL_S = 0.05

# KEYS: user set, index, flag, announced flag, route set. ARGV: connection id, index member,
# ttl ms, route member (node|connection id).
# Returns 1 when the user had no live connection before (0 -> 1). The announced flag (the
# user was told online) lives as long as the leases that keep the user online.
_LEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if mine and tonumber(mine) > now then live = live - 1 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl * 3)
local first = 0
if live == 0 and redis.call('SET', KEYS[3], '1', 'NX', 'PX', ttl * 3) then first = 1 end
redis.call('PEXPIRE', KEYS[3], ttl * 3)
redis.call('PEXPIRE', KEYS[4], ttl * 3)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
redis.call('ZADD', KEYS[5], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[5], ttl * 3)
return first
"""

# KEYS: user set, index, flag, route set. ARGV: connection id, index member, route member.
# Returns 1 when this removal ended the user's connected period (1 -> 0).
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[4], ARGV[3])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if removed == 0 then return 0 end
if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') > 0 then return 0 end
return redis.call('DEL', KEYS[3])
"""

# KEYS: user set. The number of live leases.
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""

# Leases that ran out: their node stopped renewing them.
_EXPIRED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""


def _keys(user: UserRef, channel: Channel) -> tuple[str, str]:
    base = f"chat:presence:{channel.value}:{user.type.value}:{user.id}"
    return base, f"{base}:on"


def route_key(user: UserRef, channel: Channel) -> str:
    """The nodes holding ``user``'s connections of ``channel`` (members ``node|connection``)."""
    return f"chat:route:{channel.value}:{user.type.value}:{user.id}"


def _announced_key(user: UserRef) -> str:
    return f"chat:presence:announced:{user.type.value}:{user.id}"


def _index_member(user: UserRef, connection_id: str, channel: Channel) -> str:
    return f"{channel.value}|{user.type.value}|{user.id}|{connection_id}"


def _parse_index_member(member: str) -> ExpiredConnection | None:
    try:
        channel, user_type, user_id, connection_id = member.split("|", 3)
        return ExpiredConnection(UserRef(UserType(user_type), int(user_id)), connection_id,
                                 Channel(channel))
    except ValueError:
        return None


class RedisPresenceRegistry:
    """The PresenceRegistry of several nodes.

    ``start()`` begins renewing this node's leases every ``ttl / 3``; a node that dies
    stops renewing, and ``expired`` hands its connections to whoever reaps them. While
    Redis is away the node answers from its own connections and renews everything once
    Redis is back. ``node_id`` names this node in the user-to-node map; ``hot``, when
    given, runs the count asked on every send (``pipelined.py``).
    """

    def __init__(self, client: aioredis.Redis, lease_seconds: float = 30.0,
                 node_id: str = "node", hot: PipelinedRedis | None = None) -> None:
        self._client = client
        self._node = node_id
        self._ttl_ms = max(300, int(lease_seconds * 1000))
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)
        self._expired = client.register_script(_EXPIRED)
        self._live = (hot or client).register_script(_LIVE)
        self._local: dict[tuple[str, Channel], UserRef] = {}
        self._local_counts: Counter[tuple[UserRef, Channel]] = Counter()
        self._outage = OutageLog(logger, "presence")
        self._renewer: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._renewer = asyncio.create_task(self._renew_forever(), name="presence-leases")

    async def stop(self) -> None:
        if self._renewer is not None:
            # The flag ends the loop even when a cancellation is lost in a Redis call (one
            # that arrives as its socket timeout fires comes back as a TimeoutError).
            self._stopping = True
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        # Hand this node's connections back at once rather than when their leases run out.
        for (connection_id, channel), user in list(self._local.items()):
            with contextlib.suppress(*REDIS_DOWN):
                await self.remove(user, connection_id, channel)

    def _local_count(self, user: UserRef, channel: Channel) -> int:
        return self._local_counts[(user, channel)]

    async def add(self, user: UserRef, connection_id: str, channel: Channel) -> bool:
        if (connection_id, channel) not in self._local:
            self._local[(connection_id, channel)] = user
            self._local_counts[(user, channel)] += 1
        try:
            keys, args = self._lease_call(user, connection_id, channel)
            first = await self._lease(keys=keys, args=args)
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return self._local_count(user, channel) == 1
        self._outage.succeeded()
        return bool(first)

    def _lease_call(self, user: UserRef, connection_id: str, channel: Channel
                    ) -> tuple[list[str], list[str | int]]:
        key, flag = _keys(user, channel)
        return (
            [key, INDEX, flag, _announced_key(user), route_key(user, channel)],
            [connection_id, _index_member(user, connection_id, channel), self._ttl_ms,
             f"{self._node}|{connection_id}"],
        )

    async def remove(self, user: UserRef, connection_id: str, channel: Channel) -> bool:
        known = self._local.pop((connection_id, channel), None) is not None
        if known:
            self._local_counts[(user, channel)] -= 1
            if self._local_counts[(user, channel)] <= 0:
                del self._local_counts[(user, channel)]
        key, flag = _keys(user, channel)
        try:
            last = await self._release(keys=[key, INDEX, flag, route_key(user, channel)], args=[
                connection_id, _index_member(user, connection_id, channel),
                f"{self._node}|{connection_id}"])
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return known and self._local_count(user, channel) == 0
        self._outage.succeeded()
        return bool(last)

    async def is_connected(self, user: UserRef, channel: Channel) -> bool:
        return await self.count(user, channel) > 0

    async def holds_locally(self, user: UserRef, channel: Channel) -> bool:
        return self._local_count(user, channel) > 0

    async def count(self, user: UserRef, channel: Channel) -> int:
        key, _ = _keys(user, channel)
        try:
            live = await self._live(keys=[key])
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return self._local_count(user, channel)
        self._outage.succeeded()
        return int(live)

    async def announce(self, user: UserRef, online: bool) -> bool:
        key = _announced_key(user)
        try:
            changed = bool(await self._client.set(key, "1", nx=True, px=self._ttl_ms * 3)
                           if online else await self._client.delete(key))
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return True  # tell rather than stay silent; a repeat is harmless
        self._outage.succeeded()
        return changed

    async def wait_connected(self, user: UserRef, channel: Channel, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if await self.is_connected(user, channel):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - loop.time())))

    async def expired(self, limit: int) -> list[ExpiredConnection]:
        try:
            members = await self._expired(keys=[INDEX], args=[limit])
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return []
        found = []
        for member in members:
            parsed = _parse_index_member(member)
            if parsed is None:
                await self._client.zrem(INDEX, member)
            elif (parsed.connection_id, parsed.channel) not in self._local:
                found.append(parsed)
        return found

    async def _renew_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self.renew()
            except Exception:  # the loop must outlive any one failure; logged once each
                logger.exception("renewing presence leases failed")

    async def renew(self) -> None:
        """Extend every lease this node holds (and re-create them after an outage)."""
        if not self._local:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for (connection_id, channel), user in list(self._local.items()):
                    keys, args = self._lease_call(user, connection_id, channel)
                    await self._lease(keys=keys, args=args, client=pipe)
                await pipe.execute()
        except REDIS_DOWN as exc:
            self._outage.failed(exc)
            return
        self._outage.succeeded()
