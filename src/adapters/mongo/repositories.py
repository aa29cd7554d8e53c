"""Chats, messages and last-seen times in MongoDB, with the contracts of application/ports.py.

Documents keep ids as ObjectId and times as BSON dates (milliseconds, UTC); the adapters
convert at the boundary to the domain's 24-hex strings and aware UTC datetimes. An id that
is not lowercase 24-hex names nothing: reads answer ``None`` / empty, updates of a chat
``ChatNotFound``, exactly like the in-memory adapter.

Every write is one single-document atomic operation, so a standalone MongoDB works. Two
fields exist only to keep hot queries proportional to what they return rather than to a
chat's history: ``unread_for`` (set while a message is unread by its recipient) and
``pending_for`` (set while it was never delivered); each is in a partial index.
docs/storage.md lists every document field, index and the query it serves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from bson import ObjectId
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
SNAPSHOT_FIELDS = tuple(a.name for a in attrs.fields(ProductSnapshot))
# Two concurrent first sends: the loser of the upsert race fails once and then finds the
# winner's chat; the third attempt is slack.
OPEN_ATTEMPTS = 3
# History pages read a seq range a little wider than the page, for deleted messages.
HISTORY_SLACK = 8
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def oid(value: str) -> ObjectId | None:
    """The ObjectId written as ``value``; ``None`` unless it is 24 lowercase hex digits, the
    only spelling the service hands out (``ObjectId`` would also take upper case, and then
    one message would answer to two ids)."""
    if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
        return ObjectId(value)
    return None


def new_oid(value: str) -> ObjectId:
    """The id of an entity being stored: made by the IdGenerator, so malformed is a bug."""
    key = oid(value)
    if key is None:
        raise ValueError(f"not a 24-hex id: {value!r}")
    return key


def _side(user_type: UserType) -> str:
    return user_type.value  # "customer" / "vendor": the prefix of the chat's per-side fields


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
        last_seq=doc["last_seq"],
        customer_sent_seq=doc["customer_sent_seq"],
        vendor_sent_seq=doc["vendor_sent_seq"],
        customer_read_seq=doc["customer_read_seq"],
        vendor_read_seq=doc["vendor_read_seq"],
        customer_unread=doc["customer_unread"],
        vendor_unread=doc["vendor_unread"],
        last_message_id=str(doc["last_message_id"]) if doc.get("last_message_id") else None,
    )


def _chat_to(chat: Chat) -> Document:
    """Every field but the key: the key is the upsert's filter, and goes in from there."""
    doc: Document = {
        "_id": new_oid(chat.id),
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
        "last_message_id": new_oid(chat.last_message_id) if chat.last_message_id else None,
    }
    for name in SNAPSHOT_FIELDS:
        doc[name] = getattr(chat.snapshot, name)
    return doc


def _key_filter(key: ChatKey) -> Document:
    return {"customer_id": key.customer_id, "vendor_id": key.vendor_id,
            "product_id": key.product_id}


class MongoChatRepository:
    """The ``chats`` collection: one document per chat, carrying its seq counter, per-side
    read watermarks and unread counts, and its last message, so that listing chats never
    reads messages."""

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
        doc = await self._chats.find_one(_key_filter(key))
        return None if doc is None else _chat_from(doc)

    @translate_outages
    async def open(self, chat: Chat) -> tuple[Chat, bool]:
        # An upsert on the unique key: it inserts our document or returns the stored one;
        # our _id coming back means that this call created it. Two upserts racing on an
        # empty key may both try to insert: the unique index lets one win, the loser gets
        # DuplicateKeyError (SecantusDB answers None instead) and its next attempt matches
        # the winner's document.
        new = _chat_to(chat)
        error: DuplicateKeyError | None = None
        for _ in range(OPEN_ATTEMPTS):
            try:
                doc = await self._chats.find_one_and_update(
                    _key_filter(chat.key), {"$setOnInsert": new}, upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError as exc:
                error, doc = exc, None
            if doc is not None:
                created = doc["_id"] == new["_id"]
                return (chat, True) if created else (_chat_from(doc), False)
        if error is not None:
            raise error  # not the key's race (e.g. this _id taken by another chat): a bug
        raise RuntimeError(f"upserting chat {chat.key} returned no document")

    @translate_outages
    async def record_message(
        self, chat_id: str, sender: UserType, message_id: str, at: datetime,
        snapshot: ProductSnapshot | None,
    ) -> Chat:
        # Chat.with_message as one update pipeline: the first stage takes the seq, the
        # second reads it back ($last_seq is the new value there) for the sender's sent_seq,
        # which $inc alone cannot express. Snapshot values are $literal: a product name
        # starting with "$" is text, not a field path.
        side, other = _side(sender), _side(sender.other)
        changes: Document = {
            f"{side}_sent_seq": "$last_seq",
            f"{other}_unread": {"$add": [f"${other}_unread", 1]},
            "last_message_id": new_oid(message_id),
            "last_message_at": at,
            "updated_at": at,
        }
        if snapshot is not None:
            changes.update({name: {"$literal": value} for name in SNAPSHOT_FIELDS
                            if (value := getattr(snapshot, name)) is not None})
        key = oid(chat_id)
        doc = None if key is None else await self._chats.find_one_and_update(
            {"_id": key},
            [{"$set": {"last_seq": {"$add": ["$last_seq", 1]}}}, {"$set": changes}],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise ChatNotFound(chat_id)
        return _chat_from(doc)

    @translate_outages
    async def mark_read(self, chat_id: str, reader: UserType) -> tuple[Chat, Chat]:
        # Chat.read_by in one update; the document before it is returned, and applying
        # read_by to it gives exactly the document the update wrote.
        side, other = _side(reader), _side(reader.other)
        key = oid(chat_id)
        doc = None if key is None else await self._chats.find_one_and_update(
            {"_id": key},
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
        # Chat.without_message in one update pipeline, each field decided by $cond on the
        # stored values, so it composes with concurrent sends and reads.
        recipient = _side(message.sender.type.other)
        unread, read_seq = f"{recipient}_unread", f"{recipient}_read_seq"
        changes: Document = {
            unread: {"$cond": [
                {"$gt": [message.seq, f"${read_seq}"]},
                {"$max": [0, {"$subtract": [f"${unread}", 1]}]},
                f"${unread}",
            ]},
        }
        message_key = oid(message.id)
        if message_key is not None:  # a malformed id is never the stored last message
            replacement = new_oid(replacement_id) if replacement_id else None
            changes["last_message_id"] = {"$cond": [
                {"$eq": ["$last_message_id", message_key]},
                {"$literal": replacement},
                "$last_message_id",
            ]}
        key = oid(chat_id)
        result = None if key is None else await self._chats.update_one(
            {"_id": key}, [{"$set": changes}])
        if result is None or result.matched_count == 0:
            raise ChatNotFound(chat_id)

    @translate_outages
    async def page_for(
        self, user: UserRef, limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        # One find on customer_chats / vendor_chats: equality on the user, the cursor as a
        # range on last_message_at (index bounds) plus the tie on _id, sorted by the index.
        if limit <= 0:  # limit(0) would mean "no limit" to MongoDB
            return []
        query: Document = {f"{_side(user.type)}_id": user.id}
        if after is not None:
            # A cursor this server did not make (malformed id): its ties are left out.
            after_id = oid(after.chat_id) or ObjectId("0" * 24)
            query["last_message_at"] = {"$lte": after.last_message_at}
            query["$or"] = [
                {"last_message_at": {"$lt": after.last_message_at}},
                {"_id": {"$lt": after_id}},
            ]
        cursor = self._chats.find(query).sort(
            [("last_message_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_chat_from(doc) async for doc in cursor]

    @translate_outages
    async def shares_chat(self, a: UserRef, b: UserRef) -> bool:
        if a.type is b.type:
            return False
        customer, vendor = (a, b) if a.type is UserType.CUSTOMER else (b, a)
        # Covered by the prefix of chat_key: no document is read.
        doc = await self._chats.find_one(
            {"customer_id": customer.id, "vendor_id": vendor.id},
            projection={"_id": 0, "vendor_id": 1})
        return doc is not None

    @translate_outages
    async def counterparts(self, user: UserRef, limit: int) -> list[UserRef]:
        # Walk the user's chats, most recent first, until ``limit`` distinct counterparts:
        # the cost is what is walked, never more than the user's chats.
        if limit <= 0:
            return []
        other = user.type.other
        field = f"{_side(other)}_id"
        cursor = self._chats.find(
            {f"{_side(user.type)}_id": user.id}, projection={"_id": 0, field: 1},
        ).sort([("last_message_at", DESCENDING), ("_id", DESCENDING)])
        seen: dict[int, None] = {}
        try:
            async for doc in cursor:
                seen[doc[field]] = None
                if len(seen) >= limit:
                    break
        finally:
            await cursor.close()
        return [UserRef(other, user_id) for user_id in seen]


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
        "_id": new_oid(m.id),
        "chat_id": new_oid(m.chat_id),
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
    # The idempotency key is on every message (unique index, no partial filter): with a
    # clientMessageId it is the (sender, id) pair, without one the message's own id.
    if m.client_message_id is not None:
        doc["client_message_id"] = m.client_message_id
        doc["dedup_key"] = _dedup_key(m.sender, m.client_message_id)
    else:
        doc["dedup_key"] = f"id|{m.id}"
    if m.read_at is None and not m.deleted:
        doc["unread_for"] = _side(m.recipient.type)
    if m.delivered_at is None and not m.deleted:
        doc["pending_for"] = _pending_key(m.recipient)
    return doc


def _pending_key(recipient: UserRef) -> str:
    return str(recipient)  # "customer:2": one field, so one equality selects a recipient


def _dedup_key(sender: UserRef, client_message_id: str) -> str:
    return f"{sender}|{client_message_id}"


def _is_client_id_conflict(exc: DuplicateKeyError) -> bool:
    details = exc.details or {}
    key_pattern = details.get("keyPattern") or {}
    return "dedup_key" in key_pattern or "idempotency" in str(exc)


class MongoMessageRepository:
    """The ``messages`` collection: one document per message, deleted ones kept (their
    seq stays taken) with text and images erased."""

    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._messages = db["messages"]
        self._chats = db["chats"]  # read only: a chat's last seq bounds its history

    @translate_outages
    async def add(self, message: Message) -> None:
        try:
            await self._messages.insert_one(_message_to(message))
        except DuplicateKeyError as exc:
            # The insert failed whole: nothing is stored. Only the idempotency index is a
            # contract case; a taken _id or (chat_id, seq) is a bug and propagates.
            if message.client_message_id is not None and _is_client_id_conflict(exc):
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
        doc = await self._messages.find_one({"dedup_key": _dedup_key(sender, client_message_id)})
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def by_ids(self, message_ids: Sequence[str]) -> list[Message]:
        keys = list(dict.fromkeys(k for k in map(oid, message_ids) if k is not None))
        if not keys:
            return []
        return [_message_from(doc) async for doc in self._messages.find({"_id": {"$in": keys}})]

    @translate_outages
    async def history(self, chat_id: str, before_seq: int | None, limit: int) -> list[Message]:
        # Bounded seq ranges walked backwards from before_seq (the chat's last seq when not
        # given), widening while deleted messages leave a page short: every query names
        # its range, so it reads about `limit` documents on any server, even one that does
        # not stop an index scan at the limit (SecantusDB, the tests' server, does not).
        key = oid(chat_id)
        if key is None or limit <= 0:
            return []
        upper = before_seq
        if upper is None:
            chat = await self._chats.find_one({"_id": key}, projection={"last_seq": 1})
            upper = (chat or {}).get("last_seq", 0) + 1
        found: list[Message] = []
        span = limit + HISTORY_SLACK
        while upper > 1 and len(found) < limit:
            lower = max(1, upper - span)
            cursor = self._messages.find(
                {"chat_id": key, "seq": {"$gte": lower, "$lt": upper}}
            ).sort("seq", DESCENDING)
            async for doc in cursor:
                if not doc.get("deleted") and len(found) < limit:
                    found.append(_message_from(doc))
            upper, span = lower, span * 2
        return found

    @translate_outages
    async def mark_read(
        self, chat_id: str, recipient: UserType, up_to_seq: int, at: datetime, limit: int
    ) -> list[str]:
        # Both steps touch only the "unread" partial index entries of this chat and side.
        # Not one atomic step: a concurrent mark_read of the same chat and side may report
        # some of the same ids (ReadMarker serialises them on the chat's watermark first).
        key = oid(chat_id)
        if key is None:
            return []
        query: Document = {"chat_id": key, "unread_for": _side(recipient),
                           "seq": {"$lte": up_to_seq}}
        ids: list[ObjectId] = []
        if limit > 0:
            cursor = self._messages.find(query, projection={"_id": 1}).sort(
                "seq", ASCENDING).limit(limit)
            ids = [doc["_id"] async for doc in cursor]
            if not ids:
                return []
        await self._messages.update_many(
            query, {"$set": {"read_at": at}, "$unset": {"unread_for": ""}})
        return [str(i) for i in ids]

    @translate_outages
    async def erase(self, message_id: str, at: datetime) -> Message | None:
        key = oid(message_id)
        if key is None:
            return None
        # The filter on deleted makes it one-shot: of two concurrent calls one matches.
        doc = await self._messages.find_one_and_update(
            {"_id": key, "deleted": False},
            {"$set": {"deleted": True, "text": None, "images": [], "updated_at": at},
             "$unset": {"unread_for": "", "pending_for": ""}},
            return_document=ReturnDocument.BEFORE,
        )
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def undelivered(self, recipient: UserRef, limit: int) -> list[Message]:
        if limit <= 0:
            return []
        cursor = self._messages.find({"pending_for": _pending_key(recipient)}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_message_from(doc) async for doc in cursor]

    @translate_outages
    async def mark_delivered(self, message_ids: Sequence[str], at: datetime) -> None:
        keys = list(dict.fromkeys(k for k in map(oid, message_ids) if k is not None))
        if keys:
            await self._messages.update_many(
                {"_id": {"$in": keys}, "delivered_at": None},
                {"$set": {"delivered_at": at}, "$unset": {"pending_for": ""}},
            )


class MongoLastSeenRepository:
    """The ``last_seen`` collection: one document per user, ``_id`` "customer:2"."""

    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._last_seen = db["last_seen"]

    @translate_outages
    async def set(self, user: UserRef, at: datetime) -> None:
        await self._last_seen.update_one({"_id": str(user)}, {"$set": {"at": at}}, upsert=True)

    @translate_outages
    async def get(self, user: UserRef) -> datetime | None:
        doc = await self._last_seen.find_one({"_id": str(user)})
        if doc is None:
            return None
        at: datetime = doc["at"]
        return at


if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from chat_server.adapters.mongo.client import MongoHealthProbe
    from chat_server.application.ports import (
        ChatRepository,
        HealthProbe,
        LastSeenRepository,
        MessageRepository,
    )

    def _conforms(db: AsyncIOMotorDatabase[Any], probe: MongoHealthProbe) -> None:
        chats: ChatRepository = MongoChatRepository(db)
        messages: MessageRepository = MongoMessageRepository(db)
        last_seen: LastSeenRepository = MongoLastSeenRepository(db)
        health: HealthProbe = probe
        del chats, messages, last_seen, health
