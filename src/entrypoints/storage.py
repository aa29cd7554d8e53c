"""Storage: the repositories, chosen by ``CHAT_STORAGE``.

``MemoryStorage`` (the embedded default) and ``MongoStorage`` both provide the repositories
(``chats``, ``messages``, ``last_seen``, ``unread`` ...), ``media_store``, ``outbox``,
``health`` and ``prepare``; ``container.Container`` depends on those names only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from dependency_injector import containers, providers
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.media.fs import FsMediaStore
from chat_server.adapters.memory import (
    InMemoryChatRepository,
    InMemoryHealthProbe,
    InMemoryLastSeenRepository,
    InMemoryMessageRepository,
)
from chat_server.adapters.memory.attachments import InMemoryAttachmentRepository
from chat_server.adapters.memory.directory import (
    InMemoryProductRepository,
    InMemoryProfileRepository,
)
from chat_server.adapters.memory.outbox import InMemoryOutbox
from chat_server.adapters.memory.reports import InMemoryReportRepository
from chat_server.adapters.memory.unread import InMemoryUnreadCounters
from chat_server.adapters.mongo import (
    MongoChatRepository,
    MongoHealthProbe,
    MongoLastSeenRepository,
    MongoMessageRepository,
    create_mongo_client,
    prepare_mongo,
)
from chat_server.adapters.mongo.attachments import MongoAttachmentRepository
from chat_server.adapters.mongo.directory import MongoProductRepository, MongoProfileRepository
from chat_server.adapters.mongo.gridfs import GridFSMediaStore
from chat_server.adapters.mongo.outbox import MongoOutbox
from chat_server.adapters.mongo.reports import MongoReportRepository
from chat_server.adapters.mongo.unread import MongoUnreadCounters
from chat_server.entrypoints.observability.metrics import ServiceMetrics
from chat_server.entrypoints.observability.timing import TimedRepository
from chat_server.entrypoints.settings import Settings


async def _nothing_to_prepare() -> None:
    return None


class MemoryStorage(containers.DeclarativeContainer):
    """The embedded default: everything in this process, gone when it stops."""

    settings = providers.Dependency(instance_of=Settings)
    chats = providers.Singleton(InMemoryChatRepository)
    messages = providers.Singleton(InMemoryMessageRepository)
    last_seen = providers.Singleton(InMemoryLastSeenRepository)
    reports = providers.Singleton(InMemoryReportRepository)
    attachments = providers.Singleton(InMemoryAttachmentRepository)
    media_store = providers.Singleton(FsMediaStore, root=settings.provided.media_dir)
    # Pending webhooks live in this process: a restart loses them (docs/webhooks.md).
    outbox = providers.Singleton(InMemoryOutbox, max_pending=settings.provided.webhook_max_pending)
    profiles = providers.Singleton(InMemoryProfileRepository)
    products = providers.Singleton(InMemoryProductRepository)
    unread = providers.Singleton(InMemoryUnreadCounters)
    health = providers.Singleton(InMemoryHealthProbe)
    prepare = providers.Coroutine(_nothing_to_prepare)


async def _mongo_client(url: str) -> AsyncIterator[AsyncIOMotorClient[Any]]:
    client = create_mongo_client(url)
    yield client
    client.close()


class MongoStorage(containers.DeclarativeContainer):
    """MongoDB through motor: the client is opened at start-up and closed at shutdown;
    ``prepare`` waits for the server (bounded) and creates the indexes."""

    settings = providers.Dependency(instance_of=Settings)
    client = providers.Resource(_mongo_client, url=settings.provided.mongo_url)
    database = providers.Singleton(
        lambda client, name: client[name], client=client, name=settings.provided.mongo_db
    )
    timeout_s = settings.provided.storage_timeout_s
    chats = providers.Singleton(MongoChatRepository, db=database, timeout_s=timeout_s)
    messages = providers.Singleton(MongoMessageRepository, db=database, timeout_s=timeout_s)
    last_seen = providers.Singleton(MongoLastSeenRepository, db=database, timeout_s=timeout_s)
    reports = providers.Singleton(MongoReportRepository, db=database, timeout_s=timeout_s)
    outbox = providers.Singleton(MongoOutbox, db=database)
    attachments = providers.Singleton(MongoAttachmentRepository, db=database,
                                      timeout_s=timeout_s)
    media_store = providers.Selector(
        settings.provided.media_storage,
        fs=providers.Singleton(FsMediaStore, root=settings.provided.media_dir),
        gridfs=providers.Singleton(GridFSMediaStore, db=database),
    )
    profiles = providers.Singleton(MongoProfileRepository, db=database, timeout_s=timeout_s)
    products = providers.Singleton(MongoProductRepository, db=database, timeout_s=timeout_s)
    unread = providers.Singleton(MongoUnreadCounters, db=database, timeout_s=timeout_s)
    health = providers.Singleton(MongoHealthProbe, client=client)
    prepare = providers.Coroutine(
        prepare_mongo, client=client, db=database,
        timeout_s=settings.provided.mongo_connect_timeout_s,
    )


STORAGES: dict[str, type[containers.DeclarativeContainer]] = {
    "memory": MemoryStorage, "mongo": MongoStorage,
}


# The storage providers whose calls are timed (chat_storage_operation_duration_seconds), on
# the storages that do I/O: an in-memory call takes less than timing it would cost.
TIMED_STORAGES = ("mongo",)
TIMED_REPOSITORIES = ("chats", "messages", "last_seen", "unread", "reports", "profiles",
                      "products", "attachments", "outbox")


def time_storage(storage: containers.DeclarativeContainer, metrics: ServiceMetrics) -> None:
    """Puts a ``TimedRepository`` in front of each repository the storage provides, before
    the container sees them; nothing else knows."""
    for name in TIMED_REPOSITORIES:
        provider = getattr(storage, name, None)
        if provider is not None:
            setattr(storage, name, providers.Singleton(TimedRepository, provider, name, metrics))


