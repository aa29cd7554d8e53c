"""What only the MongoDB adapters promise beyond the port contracts: a bounded number of
queries per page, outages answered as ``StorageUnavailable``, start-up, indexes and the
shape of the stored documents."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import monitoring

from chat_server.adapters.mongo import (
    MongoChatRepository,
    MongoHealthProbe,
    MongoLastSeenRepository,
    MongoMessageRepository,
    create_mongo_client,
    ensure_indexes,
    wait_for_mongo,
)
from chat_server.adapters.mongo.client import INDEXES, prepare_mongo
from chat_server.adapters.mongo.directory import MongoProductRepository, MongoProfileRepository
from chat_server.adapters.mongo.unread import MongoUnreadCounters
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.application.use_cases import Caller, GetUserChats, GetUserChatsHandler
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.domain.errors import StorageUnavailable
from chat_server.domain.model import Chat, ChatKey, Message, ProductSnapshot, UserRef, UserType

IDS = ObjectIdGenerator()
READS = {"find", "aggregate", "getMore", "count", "distinct"}
T0 = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


class CommandLog(monitoring.CommandListener):
    """The names of the commands a client sends (called from motor's worker threads)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reads(self) -> list[str]:
        return [name for name in self.names if name in READS]


@pytest_asyncio.fixture
async def logged(
    mongo_url: str, mongo_database_name: str
) -> AsyncIterator[tuple[AsyncIOMotorDatabase[Any], CommandLog]]:
    log = CommandLog()
    client = create_mongo_client(mongo_url, event_listeners=[log])
    db = client[mongo_database_name]
    await ensure_indexes(db)
    yield db, log
    await client.drop_database(mongo_database_name)
    client.close()


async def vendor_with_chats(db: AsyncIOMotorDatabase[Any], vendor: UserRef, count: int) -> None:
    """``count`` chats of ``vendor`` with one customer each, each with one message."""
    chats, messages = MongoChatRepository(db), MongoMessageRepository(db)
    for n in range(count):
        key = ChatKey("p-1", 10_000 + n, vendor.id)
        chat, _ = await chats.open(Chat.open(IDS.new_id(), key, ProductSnapshot(), at(n)))
        message_id = IDS.new_id()
        seq = await chats.allocate_seq(chat.id)
        await messages.add(Message(
            id=message_id, chat_id=chat.id, seq=seq, sender=chat.customer,
            recipient=vendor, text=f"hello {n}", images=(), created_at=at(n), updated_at=at(n),
        ))
        await chats.apply_message(chat.id, UserType.CUSTOMER, seq, message_id, at(n), None)


async def test_listing_chats_costs_the_same_queries_for_10_and_100_chats(logged):
    db, log = logged
    handler = GetUserChatsHandler(
        chats=MongoChatRepository(db), messages=MongoMessageRepository(db),
        display=TrustedDisplay(profiles=MongoProfileRepository(db),
                               products=MongoProductRepository(db)),
        counters=MongoUnreadCounters(db))
    reads = {}
    for count in (10, 100):
        vendor = UserRef(UserType.VENDOR, count)
        await vendor_with_chats(db, vendor, count)
        log.names.clear()

        page = await handler(GetUserChats(Caller(vendor), limit=100))

        assert len(page.chats) == count
        assert all(len(item.messages) == 1 for item in page.chats)
        reads[count] = log.reads()
    # One find each for the page of chats, their last messages, the trusted profiles and
    # products of the page (batched), and the user's unread totals, whatever the count.
    assert reads[10] == reads[100] == ["find"] * 5


async def test_page_for_is_exactly_one_query(logged):
    db, log = logged
    vendor = UserRef(UserType.VENDOR, 7)
    await vendor_with_chats(db, vendor, 30)
    chats = MongoChatRepository(db)
    log.names.clear()

    page = await chats.page_for(vendor, 25, None)

    assert len(page) == 25
    assert log.names == ["find"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


@pytest_asyncio.fixture
async def unreachable() -> AsyncIterator[AsyncIOMotorClient[Any]]:
    client = create_mongo_client(f"mongodb://127.0.0.1:{closed_port()}/?retryWrites=false",
                                 connect_timeout_s=0.2, server_selection_timeout_s=0.2)
    yield client
    client.close()


async def test_a_mongodb_that_does_not_answer_is_storage_unavailable(unreachable):
    db = unreachable["chat"]
    chats, messages = MongoChatRepository(db), MongoMessageRepository(db)
    last_seen = MongoLastSeenRepository(db)
    user = UserRef(UserType.CUSTOMER, 1)
    calls = [
        chats.get(IDS.new_id()),
        chats.open(Chat.open(IDS.new_id(), ChatKey("p", 1, 2), ProductSnapshot(), at(0))),
        chats.page_for(user, 20, None),
        chats.presence_audience(user, 10),
        messages.history(IDS.new_id(), 10, 20),
        messages.undelivered(user, 10),
        last_seen.set(user, at(0)),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable, match="MongoDB does not answer"):
            await call

    assert await MongoHealthProbe(unreachable, timeout_s=0.2).ready() is False


async def test_waiting_for_a_mongodb_that_never_answers_ends_at_the_bound(unreachable):
    started = time.monotonic()

    with pytest.raises(StorageUnavailable, match=r"did not answer within 1 s .*attempts"):
        await wait_for_mongo(unreachable, 1.0)

    assert 1.0 <= time.monotonic() - started < 3.0


async def test_start_up_against_a_live_server(mongo_url, mongo_database_name):
    client = create_mongo_client(mongo_url)
    db = client[mongo_database_name]
    try:
        await prepare_mongo(client, db, 5.0)
        await ensure_indexes(db)  # idempotent: a second run changes nothing

        for collection, models in INDEXES.items():
            names = {index["name"] async for index in db[collection].list_indexes()}
            assert names == {"_id_"} | {m.document["name"] for m in models}
        assert await MongoHealthProbe(client).ready() is True
    finally:
        await client.drop_database(mongo_database_name)
        client.close()


def test_options_written_in_the_url_win_over_the_defaults():
    client = create_mongo_client("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1234&appName=x")
    try:
        assert client.options.server_selection_timeout == 1.234
        assert client.options.pool_options.metadata["application"] == {"name": "x"}
        assert client.codec_options.tz_aware
    finally:
        client.close()


async def test_documents_keep_object_ids_dates_and_only_the_live_index_fields(logged):
    db, _ = logged
    chats, messages = MongoChatRepository(db), MongoMessageRepository(db)
    chat, _ = await chats.open(
        Chat.open(IDS.new_id(), ChatKey("p", 1, 2), ProductSnapshot(), at(0)))
    message_id = IDS.new_id()
    seq = await chats.allocate_seq(chat.id)
    await messages.add(Message(
        id=message_id, chat_id=chat.id, seq=seq, sender=chat.customer, recipient=chat.vendor,
        text="hi", images=(), created_at=at(1), updated_at=at(1), client_message_id="c1",
    ))
    chat = await chats.apply_message(chat.id, UserType.CUSTOMER, seq, message_id, at(1), None)

    stored_chat = await db["chats"].find_one({"_id": ObjectId(chat.id)})
    assert stored_chat is not None
    assert stored_chat["last_message_id"] == ObjectId(message_id)
    assert stored_chat["last_message_at"] == at(1)
    raw = await db["messages"].find_one({"_id": ObjectId(message_id)})
    assert raw is not None
    assert raw["chat_id"] == ObjectId(chat.id) and raw["created_at"] == at(1)
    assert (raw["unread_for"], raw["pending_for"]) == (["vendor"], ["vendor:2"])

    await messages.mark_read(chat.id, UserType.VENDOR, 1, at(2), 10)
    await messages.mark_delivered(chat.vendor, [message_id], at(2))
    raw = await db["messages"].find_one({"_id": ObjectId(message_id)})
    assert raw is not None and raw["unread_for"] == [] and raw["pending_for"] == []


async def test_documents_written_by_the_first_release_are_read_and_updated(logged):
    db, _ = logged
    messages = MongoMessageRepository(db)
    chat_key, message_key = ObjectId(IDS.new_id()), ObjectId(IDS.new_id())
    await db["messages"].insert_one({
        "_id": message_key, "chat_id": chat_key, "seq": 1, "sender_type": "customer",
        "sender_id": 1, "recipient_type": "vendor", "recipient_id": 2, "text": "old",
        "images": [], "created_at": at(1), "updated_at": at(1), "read_at": None,
        "delivered_at": None, "recipient_online": False, "opened_chat": True,
        "deleted": False, "dedup_key": f"id|{message_key}",
        "unread_for": "vendor", "pending_for": "vendor:2",  # single values, not lists
    })
    vendor = UserRef(UserType.VENDOR, 2)
    [old] = await messages.undelivered(vendor, 10)
    assert old.awaiting_delivery and old.recipients == (vendor,)
    assert await messages.mark_read(str(chat_key), UserType.VENDOR, 1, at(2), 10) == [
        str(message_key)]
    await messages.mark_delivered(vendor, [str(message_key)], at(3))
    raw = await db["messages"].find_one({"_id": message_key})
    assert raw is not None and raw["unread_for"] == [] and raw["pending_for"] == []
    assert raw["read_at"] == at(2) and raw["delivered_at"] == at(3)
