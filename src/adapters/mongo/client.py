"""The motor client, waiting for MongoDB at start-up, and the indexes the queries need."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any, ParamSpec, TypeVar

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import ConnectionFailure, PyMongoError

from chat_server.domain.errors import StorageUnavailable

logger = logging.getLogger("chat_server.mongo")

P = ParamSpec("P")
T = TypeVar("T")

# MongoDB does not answer (network, election, timeout): a 503 for the client, never a 500.
MONGO_DOWN = (ConnectionFailure,)


def translate_outages(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Raise ``StorageUnavailable`` for a MongoDB that does not answer; other errors are
    bugs and propagate as they are."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except MONGO_DOWN as exc:
            raise StorageUnavailable(f"MongoDB does not answer: {exc}") from exc

    return wrapper


def create_mongo_client(url: str, server_selection_timeout_s: float = 2.0) -> AsyncIOMotorClient[Any]:
    """Times are stored as BSON dates and come back as aware UTC datetimes. A short server
    selection timeout turns an outage into a quick 503 rather than a 30 s wait."""
    return AsyncIOMotorClient(
        url, tz_aware=True, tzinfo=UTC, appname="chat-server",
        serverSelectionTimeoutMS=int(server_selection_timeout_s * 1000),
        connectTimeoutMS=2000,
    )


async def wait_for_mongo(client: AsyncIOMotorClient[Any], timeout_s: float) -> None:
    """Ping until MongoDB answers, for at most ``timeout_s``; then ``StorageUnavailable``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    attempt = 0
    while True:
        attempt += 1
        try:
            await client.admin.command("ping")
            return
        except PyMongoError as exc:
            if loop.time() >= deadline:
                raise StorageUnavailable(
                    f"MongoDB did not answer within {timeout_s:g} s ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:200]})"
                ) from None
            if attempt == 1:
                logger.warning("waiting for MongoDB: %s", str(exc).splitlines()[0][:200])
            await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))


INDEXES: dict[str, list[IndexModel]] = {
    "chats": [
        # One chat per (customer, vendor, product); its prefix answers shares_chat.
        IndexModel([("customer_id", ASCENDING), ("vendor_id", ASCENDING),
                    ("product_id", ASCENDING)], unique=True, name="chat_key"),
        # A user's chats, most recent first (userChats / getUserChats, counterparts).
        IndexModel([("customer_id", ASCENDING), ("last_message_at", DESCENDING),
                    ("_id", DESCENDING)], name="customer_chats"),
        IndexModel([("vendor_id", ASCENDING), ("last_message_at", DESCENDING),
                    ("_id", DESCENDING)], name="vendor_chats"),
    ],
    "messages": [
        # History pages and the seq order of a chat.
        IndexModel([("chat_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="chat_seq"),
        # Idempotent sends: one message per (sender, clientMessageId) when one is given.
        IndexModel([("sender_type", ASCENDING), ("sender_id", ASCENDING),
                    ("client_message_id", ASCENDING)], unique=True, name="client_message_id",
                   partialFilterExpression={"client_message_id": {"$type": "string"}}),
        # Unread messages of one side of a chat: markAsRead / joinChat touch only these.
        IndexModel([("chat_id", ASCENDING), ("unread_for", ASCENDING), ("seq", ASCENDING)],
                   name="unread", partialFilterExpression={"unread_for": {"$exists": True}}),
        # Offline messages of a recipient, oldest first: only undelivered ones are indexed.
        IndexModel([("pending_for", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
                   name="undelivered",
                   partialFilterExpression={"pending_for": {"$exists": True}}),
    ],
}


async def ensure_indexes(db: AsyncIOMotorDatabase[Any]) -> None:
    """Idempotent: creating an index that exists with the same definition is a no-op."""
    for collection, indexes in INDEXES.items():
        await db[collection].create_indexes(indexes)


async def prepare_mongo(client: AsyncIOMotorClient[Any], db: AsyncIOMotorDatabase[Any],
                        timeout_s: float) -> None:
    await wait_for_mongo(client, timeout_s)
    try:
        await ensure_indexes(db)
    except MONGO_DOWN as exc:
        raise StorageUnavailable(f"MongoDB went away while creating indexes: {exc}") from exc


class MongoHealthProbe:
    def __init__(self, client: AsyncIOMotorClient[Any]) -> None:
        self._client = client

    async def ready(self) -> bool:
        try:
            await self._client.admin.command("ping")
        except PyMongoError:
            return False
        return True
