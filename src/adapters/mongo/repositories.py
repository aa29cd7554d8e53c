"""Chats, messages and last-seen times in MongoDB, with the contracts of application/ports.py.

Documents keep ids as ObjectId and times as BSON dates; the adapters convert at the
boundary (24-hex strings and aware UTC datetimes in the domain). Two fields exist only to
keep hot queries proportional to what they return, not to a chat's history:
``unread_for`` (set while a message is unread by its recipient) and ``pending_for`` (set
while it was never delivered); both are in partial indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chat_server.adapters.mongo.client import translate_outages
from chat_server.application.ports import ChatCursor
from chat_server.domain.errors import ChatNotFound, DuplicateClientMessageId
from chat_server.domain.model import (
    Chat,
    ChatKey,
    Message,
    ProductSnapshot,
    UserRef,
    UserType,
)

Document = dict[str, Any]
SNAPSHOT_FIELDS = tuple(a.name for a in ProductSnapshot.__attrs_attrs__)
OPEN_RETRIES = 3


def oid(value: str) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _chat_from(doc: Document) -> Chat:
    return Chat(
        id=str(doc["_id"]),
        product_id=doc["product_id"],
        customer_id=doc["customer_id"],
        vendor_id=doc["vendor_id"],
        snapshot=ProductSnapshot(**{f: doc.get(f) for f in SNAPSHOT_FIELDS}),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        last_message_at=doc["last_message_at"],
        last_seq=doc.get("last_seq", 0),
        customer_sent_seq=doc.get("customer_sent_seq", 0),
        vendor_sent_seq=doc.get("vendor_sent_seq", 0),
        customer_read_seq=doc.get("customer_read_seq", 0),
        vendor_read_seq=doc.get("vendor_read_seq", 0),
        customer_unread=doc.get("customer_unread", 0),
        vendor_unread=doc.get("vendor_unread", 0),
        last_message_id=str(doc["last_message_id"]) if doc.get("last_message_id") else None,
    )


def _chat_to(chat: Chat) -> Document:
    doc: Document = {
        "product_id": chat.product_id,
        "customer_id": chat.customer_id,
        "vendor_id": chat.vendor_id,
        "created_at": chat.created_at,
        "updated_at": chat.updated_at,
        "last_message_at": chat.last_message_at,
        "last_seq": chat.last_seq,
        "customer_sent_seq": chat.customer_sent_seq,
        "vendor_sent_seq": chat.vendor_sent_seq,
        "customer_read_seq": chat.customer_read_seq,
        "vendor_read_seq": chat.vendor_read_seq,
        "customer_unread": chat.customer_unread,
        "vendor_unread": chat.vendor_unread,
        "last_message_id": oid(chat.last_message_id) if chat.last_message_id else None,
    }
    for name in SNAPSHOT_FIELDS:
        doc[name] = getattr(chat.snapshot, name)
    return doc


def _side(user_type: UserType) -> str:
    return user_type.value  # "customer" / "vendor": the prefix of the chat's counters


class MongoChatRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._chats = db["chats"]

    @translate_outages
    async def get(self, chat_id: str) -> Chat | None:
        key = oid(chat_id)
        if key is None:
            return None
        doc = await self._chats.find_one({"_id": key})
        return None if doc is None else _chat_from(doc)

    @translate_outages
    async def find(self, key: ChatKey) -> Chat | None:
        doc = await self._chats.find_one(
            {"customer_id": key.customer_id, "vendor_id": key.vendor_id,
             "product_id": key.product_id})
        return None if doc is None else _chat_from(doc)

    @translate_outages
    async def open(self, chat: Chat) -> tuple[Chat, bool]:
        key = {"customer_id": chat.customer_id, "vendor_id": chat.vendor_id,
               "product_id": chat.product_id}
        new = _chat_to(chat)
        for name in key:
            del new[name]
        for _ in range(OPEN_RETRIES):
            try:
                result = await self._chats.update_one(
                    key, {"$setOnInsert": {"_id": oid(chat.id), **new}}, upsert=True)
            except DuplicateKeyError:
                continue  # a concurrent upsert won between our match and insert: read it
            if result.upserted_id is not None:
                return chat, True
            doc = await self._chats.find_one(key)
            if doc is not None:
                return _chat_from(doc), False
        doc = await self._chats.find_one(key)
        if doc is None:  # pragma: no cover - the unique index guarantees a winner
            raise ChatNotFound(chat.id)
        return _chat_from(doc), False

    @translate_outages
    async def record_message(
        self, chat_id: str, sender: UserType, message_id: str, at: datetime,
        snapshot: ProductSnapshot | None,
    ) -> Chat:
        side, other = _side(sender), _side(sender.other)
        changes: Document = {
            f"{side}_sent_seq": "$last_seq",
            f"{other}_unread": {"$add": [f"${other}_unread", 1]},
            "last_message_id": oid(message_id),
            "last_message_at": at,
            "updated_at": at,
        }
        if snapshot is not None:
            changes.update({f: {"$literal": v} for f in SNAPSHOT_FIELDS
                            if (v := getattr(snapshot, f)) is not None})
        # One atomic update: the seq is taken and every counter moves with it.
        doc = await self._chats.find_one_and_update(
            {"_id": oid(chat_id)},
            [{"$set": {"last_seq": {"$add": ["$last_seq", 1]}}}, {"$set": changes}],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise ChatNotFound(chat_id)
        return _chat_from(doc)

    @translate_outages
    async def mark_read(self, chat_id: str, reader: UserType) -> tuple[Chat, Chat]:
        side, other = _side(reader), _side(reader.other)
        doc = await self._chats.find_one_and_update(
            {"_id": oid(chat_id)},
            [{"$set": {f"{side}_read_seq": f"${other}_sent_seq", f"{side}_unread": 0}}],
            return_document=ReturnDocument.BEFORE,
        )
        if doc is None:
            raise ChatNotFound(chat_id)
        before = _chat_from(doc)
        return before, before.read_by(reader)

    @translate_outages
    async def forget_message(
        self, chat_id: str, message: Message, replacement_id: str | None
    ) -> None:
        recipient = _side(message.sender.type.other)
        await self._chats.update_one(
            {"_id": oid(chat_id), f"{recipient}_read_seq": {"$lt": message.seq},
             f"{recipient}_unread": {"$gt": 0}},
            {"$inc": {f"{recipient}_unread": -1}},
        )
        await self._chats.update_one(
            {"_id": oid(chat_id), "last_message_id": oid(message.id)},
            {"$set": {"last_message_id": oid(replacement_id) if replacement_id else None}},
        )

    @translate_outages
    async def page_for(
        self, user: UserRef, limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        query: Document = {f"{_side(user.type)}_id": user.id}
        if after is not None:
            after_id = oid(after.chat_id) or ObjectId("0" * 24)
            query["$or"] = [
                {"last_message_at": {"$lt": after.last_message_at}},
                {"last_message_at": after.last_message_at, "_id": {"$lt": after_id}},
            ]
        cursor = self._chats.find(query).sort(
            [("last_message_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_chat_from(doc) async for doc in cursor]

    @translate_outages
    async def shares_chat(self, a: UserRef, b: UserRef) -> bool:
        if a.type is b.type:
            return False
        customer, vendor = (a, b) if a.type is UserType.CUSTOMER else (b, a)
        doc = await self._chats.find_one(
            {"customer_id": customer.id, "vendor_id": vendor.id}, projection={"_id": 1})
        return doc is not None

    @translate_outages
    async def counterparts(self, user: UserRef, limit: int) -> list[UserRef]:
        other = user.type.other
        cursor = self._chats.aggregate([
            {"$match": {f"{_side(user.type)}_id": user.id}},
            {"$sort": {"last_message_at": -1}},
            {"$group": {"_id": f"${_side(other)}_id"}},
            {"$limit": limit},
        ])
        return [UserRef(other, doc["_id"]) async for doc in cursor]


def _message_from(doc: Document) -> Message:
    return Message(
        id=str(doc["_id"]),
        chat_id=str(doc["chat_id"]),
        seq=doc["seq"],
        sender=UserRef(UserType(doc["sender_type"]), doc["sender_id"]),
        recipient=UserRef(UserType(doc["recipient_type"]), doc["recipient_id"]),
        text=doc.get("text"),
        images=tuple(doc.get("images") or ()),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        read_at=doc.get("read_at"),
        delivered_at=doc.get("delivered_at"),
        recipient_online=doc.get("recipient_online", False),
        client_message_id=doc.get("client_message_id"),
        opened_chat=doc.get("opened_chat", False),
        deleted=doc.get("deleted", False),
    )


def _message_to(m: Message) -> Document:
    doc: Document = {
        "_id": oid(m.id),
        "chat_id": oid(m.chat_id),
        "seq": m.seq,
        "sender_type": m.sender.type.value,
        "sender_id": m.sender.id,
        "recipient_type": m.recipient.type.value,
        "recipient_id": m.recipient.id,
        "text": m.text,
        "images": list(m.images),
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "read_at": m.read_at,
        "delivered_at": m.delivered_at,
        "recipient_online": m.recipient_online,
        "opened_chat": m.opened_chat,
        "deleted": m.deleted,
    }
    if m.client_message_id is not None:
        doc["client_message_id"] = m.client_message_id
    if m.read_at is None and not m.deleted:
        doc["unread_for"] = m.recipient.type.value
    if m.delivered_at is None and not m.deleted:
        doc["pending_for"] = str(m.recipient)
    return doc


class MongoMessageRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._messages = db["messages"]

    @translate_outages
    async def add(self, message: Message) -> None:
        try:
            await self._messages.insert_one(_message_to(message))
        except DuplicateKeyError as exc:
            if message.client_message_id is not None and "client_message_id" in str(exc):
                raise DuplicateClientMessageId(message.client_message_id) from None
            raise

    @translate_outages
    async def get(self, message_id: str) -> Message | None:
        key = oid(message_id)
        if key is None:
            return None
        doc = await self._messages.find_one({"_id": key})
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def by_client_id(self, sender: UserRef, client_message_id: str) -> Message | None:
        doc = await self._messages.find_one({
            "sender_type": sender.type.value, "sender_id": sender.id,
            "client_message_id": client_message_id,
        })
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def by_ids(self, message_ids: Sequence[str]) -> list[Message]:
        keys = [k for k in map(oid, message_ids) if k is not None]
        if not keys:
            return []
        return [_message_from(doc) async for doc in self._messages.find({"_id": {"$in": keys}})]

    @translate_outages
    async def history(self, chat_id: str, before_seq: int | None, limit: int) -> list[Message]:
        key = oid(chat_id)
        if key is None:
            return []
        query: Document = {"chat_id": key, "deleted": False}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        cursor = self._messages.find(query).sort("seq", DESCENDING).limit(limit)
        return [_message_from(doc) async for doc in cursor]

    @translate_outages
    async def mark_read(
        self, chat_id: str, recipient: UserType, up_to_seq: int, at: datetime, limit: int
    ) -> list[str]:
        query = {"chat_id": oid(chat_id), "unread_for": recipient.value,
                 "seq": {"$lte": up_to_seq}}
        cursor = self._messages.find(query, projection={"_id": 1}).sort(
            "seq", ASCENDING).limit(limit)
        ids = [doc["_id"] async for doc in cursor]
        await self._messages.update_many(
            query, {"$set": {"read_at": at}, "$unset": {"unread_for": ""}})
        return [str(i) for i in ids]

    @translate_outages
    async def erase(self, message_id: str, at: datetime) -> Message | None:
        key = oid(message_id)
        if key is None:
            return None
        doc = await self._messages.find_one_and_update(
            {"_id": key, "deleted": False},
            {"$set": {"deleted": True, "text": None, "images": [], "updated_at": at},
             "$unset": {"unread_for": "", "pending_for": ""}},
            return_document=ReturnDocument.BEFORE,
        )
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def undelivered(self, recipient: UserRef, limit: int) -> list[Message]:
        cursor = self._messages.find({"pending_for": str(recipient)}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_message_from(doc) async for doc in cursor]

    @translate_outages
    async def mark_delivered(self, message_ids: Sequence[str], at: datetime) -> None:
        keys = [k for k in map(oid, message_ids) if k is not None]
        if keys:
            await self._messages.update_many(
                {"_id": {"$in": keys}, "delivered_at": None},
                {"$set": {"delivered_at": at}, "$unset": {"pending_for": ""}},
            )


class MongoLastSeenRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._last_seen = db["last_seen"]

    @translate_outages
    async def set(self, user: UserRef, at: datetime) -> None:
        await self._last_seen.update_one({"_id": str(user)}, {"$set": {"at": at}}, upsert=True)

    @translate_outages
    async def get(self, user: UserRef) -> datetime | None:
        doc = await self._last_seen.find_one({"_id": str(user)})
        return None if doc is None else doc["at"]  # type: ignore[no-any-return]
