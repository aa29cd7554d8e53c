"""MongoDB adapters (motor): chats, messages, last-seen times and the webhook outbox, which
survive restarts.

One module per collection. Every write is one single-document atomic operation
(``find_one_and_update`` with update pipelines, upserts guarded by unique indexes), so a
standalone MongoDB works; every query on a hot path is backed by an index. docs/storage.md
lists the documents, the indexes and the query each one serves.

Start-up: ``create_mongo_client(url)`` -> ``prepare_mongo(client, db, timeout_s)``
(``wait_for_mongo`` then ``ensure_indexes``) -> serve -> ``client.close()``.
"""

from typing import TYPE_CHECKING, Any

from chat_server.adapters.mongo.chats import MongoChatRepository
from chat_server.adapters.mongo.client import (
    MongoHealthProbe,
    create_mongo_client,
    ensure_indexes,
    prepare_mongo,
    wait_for_mongo,
)
from chat_server.adapters.mongo.last_seen import MongoLastSeenRepository
from chat_server.adapters.mongo.messages import MongoMessageRepository
from chat_server.adapters.mongo.outbox import MongoOutbox

__all__ = [
    "MongoChatRepository",
    "MongoHealthProbe",
    "MongoLastSeenRepository",
    "MongoMessageRepository",
    "MongoOutbox",
    "create_mongo_client",
    "ensure_indexes",
    "prepare_mongo",
    "wait_for_mongo",
]

if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

    from chat_server.adapters.mongo.directory import (
        MongoProductRepository,
        MongoProfileRepository,
    )
    from chat_server.adapters.mongo.reports import MongoReportRepository
    from chat_server.adapters.mongo.unread import MongoUnreadCounters
    from chat_server.application.ports import (
        ChatRepository,
        HealthProbe,
        LastSeenRepository,
        MessageRepository,
        ProductRepository,
        ProfileRepository,
        ReportRepository,
        UnreadCounters,
    )

    def _conforms(db: AsyncIOMotorDatabase[Any], client: AsyncIOMotorClient[Any]) -> None:
        chats: ChatRepository = MongoChatRepository(db)
        messages: MessageRepository = MongoMessageRepository(db)
        last_seen: LastSeenRepository = MongoLastSeenRepository(db)
        health: HealthProbe = MongoHealthProbe(client)
        profiles: ProfileRepository = MongoProfileRepository(db)
        products: ProductRepository = MongoProductRepository(db)
        unread: UnreadCounters = MongoUnreadCounters(db)
        reports: ReportRepository = MongoReportRepository(db)
        del chats, messages, last_seen, health, profiles, products, unread, reports
