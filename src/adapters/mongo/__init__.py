"""MongoDB adapters (motor): chats, messages, last-seen times and the webhook outbox, which
survive restarts.

Every write is one single-document atomic operation (``find_one_and_update`` with update
pipelines, upserts guarded by unique indexes), so a standalone MongoDB works; every query
on a hot path is backed by an index. docs/storage.md lists the documents, the indexes and
the query each one serves.

Start-up: ``create_mongo_client(url)`` -> ``prepare_mongo(client, db, timeout_s)``
(``wait_for_mongo`` then ``ensure_indexes``) -> serve -> ``client.close()``.
"""

from chat_server.adapters.mongo.client import (
    MongoHealthProbe,
    create_mongo_client,
    ensure_indexes,
    prepare_mongo,
    wait_for_mongo,
)
from chat_server.adapters.mongo.outbox import MongoOutbox
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
    "MongoOutbox",
    "create_mongo_client",
    "ensure_indexes",
    "prepare_mongo",
    "wait_for_mongo",
]
