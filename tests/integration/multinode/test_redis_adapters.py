"""The Redis adapters against a real redis-server: what several nodes share."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis_support import RedisServer

from chat_server.adapters.redis import (
    RedisPresenceRegistry,
    RedisRateLimiter,
    RedisTypingThrottle,
    create_redis,
)
from chat_server.application.ports import Channel, RateKind, RateLimit
from chat_server.domain.model import UserRef, UserType

_ids = itertools.count(1)


def someone() -> UserRef:
    return UserRef(UserType.CUSTOMER, next(_ids))


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = create_redis(redis_server.url)
    yield redis
    await redis.aclose()


async def test_a_user_is_connected_while_any_node_holds_a_connection(client: aioredis.Redis):
    node_a, node_b = RedisPresenceRegistry(client), RedisPresenceRegistry(client)
    user = someone()
    assert await node_a.add(user, "a1", Channel.PRESENCE) is True
    assert await node_b.add(user, "b1", Channel.PRESENCE) is False
    assert await node_b.is_connected(user, Channel.PRESENCE)
    assert await node_a.remove(user, "a1", Channel.PRESENCE) is False
    assert await node_a.is_connected(user, Channel.PRESENCE)
    assert await node_b.remove(user, "b1", Channel.PRESENCE) is True
    assert not await node_a.is_connected(user, Channel.PRESENCE)


async def test_a_dead_nodes_connections_expire_and_are_reaped_once(client: aioredis.Redis):
    dead = RedisPresenceRegistry(client, lease_seconds=0.3)
    alive = RedisPresenceRegistry(client, lease_seconds=0.3)
    alive.start()
    gone, stays = someone(), someone()
    await dead.add(gone, "d1", Channel.PRESENCE)
    await dead.add(gone, "d2", Channel.PRESENCE)
    await dead.add(stays, "d3", Channel.PRESENCE)
    await alive.add(stays, "a1", Channel.PRESENCE)
    await asyncio.sleep(0.5)  # the dead node renews nothing; the alive one renews its lease
    assert not await alive.is_connected(gone, Channel.PRESENCE)
    assert await alive.is_connected(stays, Channel.PRESENCE)
    expired = await alive.expired(100)
    mine = {(e.user, e.connection_id) for e in expired}
    assert {(gone, "d1"), (gone, "d2"), (stays, "d3")} <= mine
    assert (stays, "a1") not in mine
    last = [await alive.remove(e.user, e.connection_id, e.channel) for e in expired
            if e.user in (gone, stays)]
    assert last.count(True) == 1  # "gone" went offline exactly once; "stays" did not
    assert await alive.is_connected(stays, Channel.PRESENCE)
    await alive.stop()


async def test_waiting_sees_a_connection_made_on_another_node(client: aioredis.Redis):
    node_a, node_b = RedisPresenceRegistry(client), RedisPresenceRegistry(client)
    user = someone()
    waiting = asyncio.ensure_future(node_a.wait_connected(user, Channel.PRESENCE, 2.0))
    await asyncio.sleep(0.1)
    await node_b.add(user, "b1", Channel.PRESENCE)
    assert await waiting is True
    assert await node_a.wait_connected(someone(), Channel.PRESENCE, 0.1) is False


async def test_rate_limits_hold_across_nodes(client: aioredis.Redis):
    limits = {RateKind.SEND: RateLimit(0.01, 3), RateKind.REQUEST: None}
    node_a, node_b = RedisRateLimiter(client, limits), RedisRateLimiter(client, limits)
    user = someone()
    taken = [await node.acquire(user, RateKind.SEND) for node in (node_a, node_b, node_a, node_b)]
    assert taken == [True, True, True, False]
    assert await node_b.acquire(user, RateKind.REQUEST) is True  # off
    assert await node_a.acquire(someone(), RateKind.SEND) is True


async def test_typing_is_throttled_across_nodes(client: aioredis.Redis):
    node_a, node_b = RedisTypingThrottle(client, 0.3), RedisTypingThrottle(client, 0.3)
    user = someone()
    assert await node_a.allow(user, "chat") is True
    assert await node_b.allow(user, "chat") is False
    assert await node_b.allow(user, "other chat") is True
    await asyncio.sleep(0.35)
    assert await node_b.allow(user, "chat") is True


async def test_without_redis_each_node_answers_for_its_own_connections():
    down = create_redis("redis://127.0.0.1:1/0")
    registry = RedisPresenceRegistry(down)
    limiter = RedisRateLimiter(down, {RateKind.SEND: RateLimit(1, 1)})
    user = someone()
    assert await registry.add(user, "c1", Channel.PRESENCE) is True
    assert await registry.is_connected(user, Channel.PRESENCE)
    assert await registry.remove(user, "c1", Channel.PRESENCE) is True
    assert await limiter.acquire(user, RateKind.SEND) is True
    assert await limiter.acquire(user, RateKind.SEND) is False
    assert await RedisTypingThrottle(down).allow(user, "c") is True
    await down.aclose()
