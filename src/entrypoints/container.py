"""The composition root: the only place where concrete adapters are chosen and wired.

``build_container(settings)`` picks the storage container named by ``CHAT_STORAGE``; the
rest of the graph depends on its providers only (``chats``, ``messages``, ``last_seen``,
``health``, ``prepare``), so a storage backend is swapped by configuration alone.
Nothing here has side effects at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import redis.asyncio as aioredis
from dependency_injector import containers, providers
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.memory import (
    InMemoryChatRepository,
    InMemoryHealthProbe,
    InMemoryLastSeenRepository,
    InMemoryMessageRepository,
    InMemoryPresenceRegistry,
    InMemoryRateLimiter,
    InMemoryTypingThrottle,
)
from chat_server.adapters.mongo import (
    MongoChatRepository,
    MongoHealthProbe,
    MongoLastSeenRepository,
    MongoMessageRepository,
    create_mongo_client,
)
from chat_server.adapters.mongo.client import prepare_mongo
from chat_server.adapters.redis import (
    RedisHealthProbe,
    RedisPresenceRegistry,
    RedisRateLimiter,
    RedisTypingThrottle,
    create_redis,
)
from chat_server.adapters.system import ObjectIdGenerator, SystemClock
from chat_server.application.ports import HealthProbe, RateKind, RateLimit
from chat_server.application.use_cases import (
    ChatSessions,
    CheckOnlinePresenceHandler,
    DeleteMessageHandler,
    GetMessagesHandler,
    GetUserChatsHandler,
    JoinChatHandler,
    MarkAsReadHandler,
    PresenceTracker,
    ReadMarker,
    SendMessageHandler,
    SignalTypingHandler,
)
from chat_server.entrypoints.auth import TokenVerifier
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio.gateway import Gateway, UseCases
from chat_server.entrypoints.socketio.manager import ChatRedisManager, DirectEmitManager
from chat_server.entrypoints.socketio.notifier import SocketIONotifier
from chat_server.entrypoints.socketio.server import ChatSocketServer


async def _nothing_to_prepare() -> None:
    return None


class MemoryStorage(containers.DeclarativeContainer):
    """The embedded default: everything in this process, gone when it stops."""

    settings = providers.Dependency(instance_of=Settings)
    chats = providers.Singleton(InMemoryChatRepository)
    messages = providers.Singleton(InMemoryMessageRepository)
    last_seen = providers.Singleton(InMemoryLastSeenRepository)
    health = providers.Singleton(InMemoryHealthProbe)
    prepare = providers.Coroutine(_nothing_to_prepare)


def _mongo_client(url: str) -> Iterator[AsyncIOMotorClient[Any]]:
    client = create_mongo_client(url)
    yield client
    client.close()


class MongoStorage(containers.DeclarativeContainer):
    """MongoDB through motor: the client is opened at start-up and closed at shutdown;
    ``prepare`` waits for the server (bounded) and creates the indexes."""

    settings = providers.Dependency(instance_of=Settings)
    client = providers.Resource(_mongo_client, settings.provided.mongo_url)
    database = providers.Singleton(
        lambda client, name: client[name], client, settings.provided.mongo_db
    )
    chats = providers.Singleton(MongoChatRepository, database)
    messages = providers.Singleton(MongoMessageRepository, database)
    last_seen = providers.Singleton(MongoLastSeenRepository, database)
    health = providers.Singleton(MongoHealthProbe, client)
    prepare = providers.Coroutine(
        prepare_mongo, client, database, settings.provided.mongo_connect_timeout_s
    )


STORAGES: dict[str, type[containers.DeclarativeContainer]] = {
    "memory": MemoryStorage, "mongo": MongoStorage,
}


def _limits(settings: Settings) -> dict[RateKind, RateLimit | None]:
    return {RateKind.SEND: settings.send_limit, RateKind.REQUEST: settings.request_limit}


class LocalCoordination(containers.DeclarativeContainer):
    """One node: presence, limits and the typing throttle in this process."""

    settings = providers.Dependency(instance_of=Settings)
    presence = providers.Singleton(InMemoryPresenceRegistry)
    limiter = providers.Singleton(InMemoryRateLimiter, providers.Callable(_limits, settings))
    typing_throttle = providers.Singleton(
        InMemoryTypingThrottle, settings.provided.typing_interval_s
    )
    client_manager = providers.Singleton(DirectEmitManager)
    health = providers.Singleton(InMemoryHealthProbe)
    start = providers.Coroutine(_nothing_to_prepare)
    stop = providers.Coroutine(_nothing_to_prepare)


def _redis_client(url: str) -> Iterator[aioredis.Redis]:
    # Closed by RedisCoordination.stop: redis.asyncio closes with a coroutine.
    yield create_redis(url)


async def _start_redis(presence: RedisPresenceRegistry) -> None:
    presence.start()


async def _stop_redis(presence: RedisPresenceRegistry, client: aioredis.Redis) -> None:
    await presence.stop()
    await client.aclose()


class RedisCoordination(containers.DeclarativeContainer):
    """Several nodes: emits cross nodes through Redis; presence, limits and the typing
    throttle live in Redis so that they hold per user whichever node a device is on."""

    settings = providers.Dependency(instance_of=Settings)
    client = providers.Resource(_redis_client, settings.provided.redis_url)
    presence = providers.Singleton(
        RedisPresenceRegistry, client, settings.provided.presence_lease_s
    )
    limiter = providers.Singleton(RedisRateLimiter, client, providers.Callable(_limits, settings))
    typing_throttle = providers.Singleton(
        RedisTypingThrottle, client, settings.provided.typing_interval_s
    )
    client_manager = providers.Singleton(ChatRedisManager, settings.provided.redis_url)
    health = providers.Singleton(RedisHealthProbe, client)
    start = providers.Coroutine(_start_redis, presence)
    stop = providers.Coroutine(_stop_redis, presence, client)


def _socket_options(settings: Settings, client_manager: object) -> dict[str, object]:
    return {
        "client_manager": client_manager,
        # None: same origin only (python-engineio's default); else the listed origins or '*'.
        "cors_allowed_origins": (
            None if settings.cors_origins is None
            else "*" if settings.cors_origins == ("*",)
            else list(settings.cors_origins)
        ),
        "max_http_buffer_size": settings.max_packet_bytes,
        "transports": list(settings.transports),
        "logger": False,
        "engineio_logger": False,
        # Read by ChatEngineServer (entrypoints/socketio/engine.py).
        "transport_impl": settings.transport_impl,
        "socket_buffer_bytes": settings.socket_buffer_bytes,
        "connect_timeout": settings.connect_timeout_s,
        "max_pending_sessions": settings.max_pending_sessions,
        "ping_interval": settings.ping_interval_s,
        "ping_timeout": settings.ping_timeout_s,
    }


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    storage = providers.DependenciesContainer()
    coordination = providers.DependenciesContainer()

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(ObjectIdGenerator)
    presence = coordination.presence
    limiter = coordination.limiter
    typing_throttle = coordination.typing_throttle
    health = providers.Singleton(
        lambda *probes: AllReady(probes), storage.health, coordination.health
    )

    sio = providers.Singleton(
        lambda options: ChatSocketServer(**options),
        providers.Callable(_socket_options, settings, coordination.client_manager),
    )
    notifier = providers.Singleton(SocketIONotifier, sio)
    verifier = providers.Singleton(
        TokenVerifier,
        key=settings.provided.verification_key,
        algorithms=settings.provided.jwt_algorithms,
        audience=settings.provided.jwt_audience,
        issuer=settings.provided.jwt_issuer,
    )

    read_marker = providers.Singleton(ReadMarker, storage.chats, storage.messages, notifier, clock)
    get_user_chats = providers.Singleton(GetUserChatsHandler, storage.chats, storage.messages)
    use_cases = providers.Singleton(
        UseCases,
        send_message=providers.Singleton(
            SendMessageHandler, storage.chats, storage.messages, presence, notifier, clock, ids
        ),
        join_chat=providers.Singleton(
            JoinChatHandler, storage.chats, storage.messages, read_marker
        ),
        mark_as_read=providers.Singleton(MarkAsReadHandler, storage.chats, read_marker),
        delete_message=providers.Singleton(
            DeleteMessageHandler, storage.chats, storage.messages, notifier, clock
        ),
        signal_typing=providers.Singleton(
            SignalTypingHandler, storage.chats, typing_throttle, notifier
        ),
        get_user_chats=get_user_chats,
        get_messages=providers.Singleton(GetMessagesHandler, storage.chats, storage.messages),
        check_online_presence=providers.Singleton(
            CheckOnlinePresenceHandler, storage.chats, presence, storage.last_seen
        ),
        presence=providers.Singleton(
            PresenceTracker, storage.chats, presence, storage.last_seen, notifier, clock
        ),
        sessions=providers.Singleton(
            ChatSessions, storage.messages, presence, clock, get_user_chats,
            settings.provided.presence_grace_s,
        ),
    )
    gateway = providers.Singleton(Gateway, sio, verifier, use_cases, limiter)


def build_container(settings: Settings) -> Container:
    try:
        storage_container = STORAGES[settings.storage]
    except KeyError:
        raise ValueError(f"no storage named {settings.storage!r}") from None
    coordination = (
        RedisCoordination(settings=settings) if settings.redis_url
        else LocalCoordination(settings=settings)
    )
    return Container(settings=settings, storage=storage_container(settings=settings),
                     coordination=coordination)


class AllReady:
    """Ready when every backend is."""

    def __init__(self, probes: Iterable[HealthProbe]) -> None:
        self._probes = tuple(probes)

    async def ready(self) -> bool:
        for probe in self._probes:
            if not await probe.ready():
                return False
        return True
