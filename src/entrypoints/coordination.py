"""Coordination: what several nodes share, chosen by ``CHAT_REDIS_URL``.

``LocalCoordination`` (one node) and ``RedisCoordination`` (several) both provide
``presence``, ``limiter``, ``typing_throttle``, the Socket.IO ``client_manager``, ``health``,
``start`` and ``stop``; ``container.Container`` depends on those names only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from dependency_injector import containers, providers

from chat_server.adapters.memory import (
    InMemoryHealthProbe,
    InMemoryPresenceRegistry,
    InMemoryRateLimiter,
    InMemoryTypingThrottle,
)
from chat_server.adapters.redis import (
    RedisHealthProbe,
    RedisPresenceRegistry,
    RedisRateLimiter,
    RedisTypingThrottle,
    create_redis,
)
from chat_server.adapters.redis.fanout import (
    NodeFanout,
    create_publisher_connection,
    create_subscriber_connection,
)
from chat_server.adapters.redis.pipelined import PipelinedRedis
from chat_server.application.ports import RateKind, RateLimit
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio.manager import (
    ChatRedisManager,
    CrossNodeManager,
    DirectEmitManager,
)


async def _nothing_to_do() -> None:
    return None


def limits_of(settings: Settings) -> dict[RateKind, RateLimit | None]:
    return {
        RateKind.SEND: settings.send_limit,
        RateKind.REQUEST: settings.request_limit,
        RateKind.NEW_CHAT: settings.new_chat_limit,
        RateKind.CONNECT: settings.connect_limit,
        RateKind.UPLOAD: settings.upload_limit,
        RateKind.REPORT: settings.report_limit,
    }


class LocalCoordination(containers.DeclarativeContainer):
    """One node: presence, limits and the typing throttle in this process."""

    settings = providers.Dependency(instance_of=Settings)
    presence = providers.Singleton(InMemoryPresenceRegistry)
    limiter = providers.Singleton(
        InMemoryRateLimiter, limits=providers.Callable(limits_of, settings)
    )
    typing_throttle = providers.Singleton(
        InMemoryTypingThrottle, interval_seconds=settings.provided.typing_interval_s
    )
    client_manager = providers.Singleton(DirectEmitManager)
    health = providers.Singleton(InMemoryHealthProbe)
    start = providers.Coroutine(_nothing_to_do)
    stop = providers.Coroutine(_nothing_to_do)


async def _redis_client(url: str) -> AsyncIterator[aioredis.Redis]:
    client = create_redis(url)
    yield client
    await client.aclose()


async def _hot_client(url: str) -> AsyncIterator[PipelinedRedis]:
    """The commands of the message path (limits, the throttle, presence counts)."""
    client = PipelinedRedis.from_url(url)
    yield client
    await client.aclose()


def _client_manager(settings: Settings, fanout: Any) -> DirectEmitManager:
    if settings.cross_node == "broadcast":
        assert settings.redis_url is not None
        return ChatRedisManager(settings.redis_url)
    return CrossNodeManager(fanout())


async def _start_redis(presence: RedisPresenceRegistry, manager: DirectEmitManager) -> None:
    presence.start()
    if isinstance(manager, CrossNodeManager):
        # Re-subscribed after an outage: the leases (and this node's routes) come back now
        # rather than at the next renewal.
        await manager.fanout.start(manager.receive, presence.renew)


async def _stop_redis(presence: RedisPresenceRegistry, manager: DirectEmitManager) -> None:
    await presence.stop()  # this node's routes go first, then its channel
    if isinstance(manager, CrossNodeManager):
        await manager.fanout.stop()


class RedisCoordination(containers.DeclarativeContainer):
    """Several nodes: emits cross nodes through Redis; presence, limits and the typing
    throttle live in Redis so that they hold per user whichever node a device is on."""

    settings = providers.Dependency(instance_of=Settings)
    client = providers.Resource(_redis_client, url=settings.provided.redis_url)
    hot = providers.Resource(_hot_client, url=settings.provided.redis_url)
    node_id = providers.Singleton(lambda: uuid.uuid4().hex[:12])
    presence = providers.Singleton(
        RedisPresenceRegistry, client=client, lease_seconds=settings.provided.presence_lease_s,
        node_id=node_id, hot=hot,
    )
    limiter = providers.Singleton(
        RedisRateLimiter, client=hot, limits=providers.Callable(limits_of, settings)
    )
    typing_throttle = providers.Singleton(
        RedisTypingThrottle, client=hot, interval_seconds=settings.provided.typing_interval_s
    )
    fanout = providers.Singleton(
        NodeFanout, node_id=node_id, buffer_limit=settings.provided.cross_node_buffer,
        publisher=providers.Singleton(create_publisher_connection, settings.provided.redis_url),
        subscriber=providers.Singleton(create_subscriber_connection, settings.provided.redis_url),
    )
    client_manager = providers.Singleton(_client_manager, settings, fanout.provider)
    health = providers.Singleton(RedisHealthProbe, client=client)
    start = providers.Coroutine(_start_redis, presence=presence, manager=client_manager)
    stop = providers.Coroutine(_stop_redis, presence=presence, manager=client_manager)
