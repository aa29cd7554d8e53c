"""One contract suite for every adapter of the coordination ports (presence registry, rate
limiter, typing throttle), on memory (one node) and on Redis (several nodes).

What only several nodes share (a dead node's leases, limits across nodes) is in
multinode/test_redis_adapters.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import attrs
import pytest
import redis.asyncio as aioredis
from redis_support import RedisServer

from chat_server.adapters.memory import (
    InMemoryPresenceRegistry,
    InMemoryRateLimiter,
    InMemoryTypingThrottle,
)
from chat_server.adapters.redis import (
    RedisPresenceRegistry,
    RedisRateLimiter,
    RedisTypingThrottle,
    create_redis,
)
from chat_server.adapters.redis.pipelined import PipelinedRedis
from chat_server.application.ports import (
    Channel,
    PresenceRegistry,
    RateKind,
    RateLimit,
    RateLimiter,
    TypingThrottle,
)
from chat_server.domain.model import UserRef, UserType

_ids = itertools.count(1)


def someone(user_type: UserType = UserType.CUSTOMER) -> UserRef:
    return UserRef(user_type, 700_000 + next(_ids))


@attrs.frozen
class Coordination:
    presence: Callable[[], PresenceRegistry]
    limiter: Callable[[Mapping[RateKind, RateLimit | None]], RateLimiter]
    throttle: Callable[[float], TypingThrottle]


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = create_redis(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def pipelined_client(redis_server: RedisServer) -> AsyncIterator[PipelinedRedis]:
    client = PipelinedRedis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis", "redis-pipelined"])
def coordination(request: pytest.FixtureRequest) -> Coordination:
    if request.param == "memory":
        return Coordination(InMemoryPresenceRegistry, InMemoryRateLimiter, InMemoryTypingThrottle)
    client: Any = request.getfixturevalue("redis_client")
    # As the service wires them: the message path's commands on the pipelined client.
    hot: Any = (request.getfixturevalue("pipelined_client")
                if request.param == "redis-pipelined" else client)
    return Coordination(
        lambda: RedisPresenceRegistry(client, hot=hot if hot is not client else None),
        lambda limits: RedisRateLimiter(hot, limits),
        lambda interval: RedisTypingThrottle(hot, interval),
    )


# --- presence --------------------------------------------------------------------------------


async def test_the_first_connection_and_the_last_one_are_told_once(coordination: Coordination):
    registry = coordination.presence()
    user = someone()
    assert await registry.add(user, "phone", Channel.PRESENCE) is True
    assert await registry.add(user, "laptop", Channel.PRESENCE) is False
    assert await registry.remove(user, "phone", Channel.PRESENCE) is False
    assert await registry.is_connected(user, Channel.PRESENCE)
    assert await registry.remove(user, "laptop", Channel.PRESENCE) is True
    assert not await registry.is_connected(user, Channel.PRESENCE)
    assert await registry.remove(user, "laptop", Channel.PRESENCE) is False  # unknown now


async def test_channels_and_users_are_counted_apart(coordination: Coordination):
    registry = coordination.presence()
    customer = someone()
    vendor = UserRef(UserType.VENDOR, customer.id)  # the same number, another user
    await registry.add(customer, "c1", Channel.PRESENCE)
    assert not await registry.is_connected(customer, Channel.CHAT)
    assert not await registry.is_connected(vendor, Channel.PRESENCE)
    assert await registry.add(customer, "c1", Channel.CHAT) is True
    assert await registry.remove(customer, "c1", Channel.PRESENCE) is True
    assert await registry.is_connected(customer, Channel.CHAT)


async def test_waiting_for_a_connection_ends_when_it_comes_or_at_the_timeout(
    coordination: Coordination,
):
    registry = coordination.presence()
    user = someone()
    waiting = asyncio.ensure_future(registry.wait_connected(user, Channel.PRESENCE, 2.0))
    await asyncio.sleep(0.05)
    await registry.add(user, "p", Channel.PRESENCE)
    assert await waiting is True
    assert await registry.wait_connected(user, Channel.PRESENCE, 0.0) is True
    assert await registry.wait_connected(someone(), Channel.PRESENCE, 0.1) is False


async def test_a_live_registry_has_no_expired_connections_of_its_own(coordination: Coordination):
    registry = coordination.presence()
    user = someone()
    await registry.add(user, "p", Channel.PRESENCE)
    expired = await registry.expired(1000)
    assert all(e.connection_id != "p" or e.user != user for e in expired)
    await registry.remove(user, "p", Channel.PRESENCE)


# --- rate limits -----------------------------------------------------------------------------


async def test_a_bucket_holds_its_burst_then_refuses(coordination: Coordination):
    limiter = coordination.limiter({RateKind.SEND: RateLimit(0.001, 3), RateKind.REQUEST: None})
    user = someone()
    taken = [await limiter.acquire(user, RateKind.SEND) for _ in range(4)]
    assert taken == [True, True, True, False]
    assert await limiter.acquire(someone(), RateKind.SEND) is True  # per user
    assert all([await limiter.acquire(user, RateKind.REQUEST) for _ in range(50)])  # off


async def test_a_bucket_refills_at_its_rate(coordination: Coordination):
    limiter = coordination.limiter({RateKind.SEND: RateLimit(20.0, 1)})
    user = someone()
    assert await limiter.acquire(user, RateKind.SEND) is True
    assert await limiter.acquire(user, RateKind.SEND) is False
    await asyncio.sleep(0.08)  # 1.6 tokens at 20/s
    assert await limiter.acquire(user, RateKind.SEND) is True


async def test_a_charge_takes_what_is_left_and_more_down_to_minus_the_burst(
    coordination: Coordination,
):
    """``charge`` (what a large answer cost beyond its first token) is taken whatever is
    left: the bucket may go below empty, so later requests wait until it refilled."""
    limiter = coordination.limiter({RateKind.REQUEST: RateLimit(2.0, 4),
                                    RateKind.SEND: RateLimit(50.0, 2)})
    user = someone()
    assert await limiter.acquire(user, RateKind.REQUEST) is True  # 3 left
    await limiter.charge(user, RateKind.REQUEST, 5)  # -2
    assert await limiter.acquire(user, RateKind.REQUEST) is False
    await asyncio.sleep(0.1)  # about +0.2 at 2/s: still short of one
    assert await limiter.acquire(user, RateKind.REQUEST) is False
    # Floored at minus the burst: -2, not -98, so 0.1 s at 50/s refills it.
    await limiter.charge(user, RateKind.SEND, 100)
    assert await limiter.acquire(user, RateKind.SEND) is False
    await asyncio.sleep(0.1)
    assert await limiter.acquire(user, RateKind.SEND) is True
    await limiter.charge(user, RateKind.CONNECT, 3)  # a kind without a limit: nothing
    assert await limiter.acquire(user, RateKind.CONNECT) is True


async def test_buckets_taken_in_turn_stop_at_the_first_empty_one(coordination: Coordination):
    """``acquire_each`` is ``acquire`` of each kind in order, in one step: the tokens taken
    before the empty bucket stay taken, the ones after it are not touched."""
    limiter = coordination.limiter({RateKind.REQUEST: RateLimit(0.001, 5),
                                    RateKind.SEND: RateLimit(0.001, 2),
                                    RateKind.CONNECT: RateLimit(0.001, 5), RateKind.UPLOAD: None})
    user = someone()
    both = (RateKind.REQUEST, RateKind.SEND, RateKind.UPLOAD)
    assert [await limiter.acquire_each(user, both) for _ in range(3)] == [None, None,
                                                                           RateKind.SEND]
    # 3 request tokens went (the third before SEND refused), so 2 are left.
    assert [await limiter.acquire(user, RateKind.REQUEST) for _ in range(3)] == [True, True,
                                                                                  False]
    assert await limiter.acquire_each(user, (RateKind.REQUEST, RateKind.CONNECT)) is RateKind.REQUEST
    assert [await limiter.acquire(user, RateKind.CONNECT) for _ in range(6)] == [True] * 5 + [False]
    assert await limiter.acquire_each(someone(), (RateKind.UPLOAD,)) is None  # no limit
    assert await limiter.acquire_each(someone(), (RateKind.SEND, RateKind.CONNECT)) is None


async def test_kinds_without_a_limit_are_never_refused(coordination: Coordination):
    limiter = coordination.limiter({})
    assert all([await limiter.acquire(someone(), kind) for kind in RateKind])


# --- typing throttle -------------------------------------------------------------------------


async def test_typing_is_let_through_once_per_interval_per_user_and_chat(
    coordination: Coordination,
):
    throttle = coordination.throttle(0.2)
    user = someone()
    assert await throttle.allow(user, "chat") is True
    assert await throttle.allow(user, "chat") is False
    assert await throttle.allow(user, "other chat") is True
    assert await throttle.allow(someone(), "chat") is True
    await asyncio.sleep(0.25)
    assert await throttle.allow(user, "chat") is True
