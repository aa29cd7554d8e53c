"""MongoDB adapters (motor): chats, messages and last-seen times that survive restarts.

Every write is one single-document atomic operation (``find_one_and_update`` with ``$inc``
or an update pipeline, upserts guarded by unique indexes), so a standalone MongoDB works;
every query on a hot path is backed by an index (see docs/storage.md).
"""

from chat_server.adapters.mongo.client import (
    MongoHealthProbe,
    create_mongo_client,
    ensure_indexes,
    wait_for_mongo,
)
from chat_server.adapters.mongo.repositories import (
    MongoChatRepository,
    MongoLastSeenRepository,
    MongoMessageRepository,
)

__all__ = [
    "MongoChatRepository",
    "MongoHealthProbe",
    "MongoLastSeenRepository",
    "MongoMessageRepository",
    "create_mongo_client",
    "ensure_indexes",
    "wait_for_mongo",
]
