"""The ``chats`` collection: one document per chat, carrying its seq counter, per-side read
watermarks and unread counts, the seqs handed out but not yet applied, and its last message,
so that listing chats never reads messages.

Every write is one single-document atomic operation (update pipelines mirroring the pure
functions of ``domain.model.Chat``), so a standalone MongoDB works. Snapshot values are
``$literal``: a product name starting with "$" is text, not a field path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import Document, new_oid, oid, side
from chat_server.application.ports import ChatCursor
from chat_server.domain.directory import side_fields
from chat_server.domain.errors import ChatNotFound
from chat_server.domain.model import (
    PENDING_SEQS_WINDOW,
    Chat,
    ChatKey,
    Message,
    ProductSnapshot,
    UserRef,
    UserType,
    sides_addressed,
)

SNAPSHOT_FIELDS = tuple(a.name for a in attrs.fields(ProductSnapshot))
# Two concurrent first sends: the loser of the upsert race fails once and then finds the
# winner's chat; the third attempt is slack.
OPEN_ATTEMPTS = 3


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
        last_message_seq=doc.get("last_message_seq", 0),
        pending_seqs=tuple(doc.get("pending_seqs") or ()),
        system_sent_seq=doc.get("system_sent_seq", 0),
        revision=doc.get("revision", 0),
        customer_blocks_vendor=doc.get("customer_blocks_vendor", False),
        vendor_blocks_customer=doc.get("vendor_blocks_customer", False),
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
        "last_message_seq": chat.last_message_seq,
        "pending_seqs": list(chat.pending_seqs),
        "system_sent_seq": chat.system_sent_seq,
        "revision": chat.revision,
        "customer_blocks_vendor": chat.customer_blocks_vendor,
        "vendor_blocks_customer": chat.vendor_blocks_customer,
    }
    for name in SNAPSHOT_FIELDS:
        doc[name] = getattr(chat.snapshot, name)
    return doc


def _key_filter(key: ChatKey) -> Document:
    return {"customer_id": key.customer_id, "vendor_id": key.vendor_id,
            "product_id": key.product_id}


_bumped: Document = {"$add": [{"$ifNull": ["$revision", 0]}, 1]}


def _without(seq: int) -> Document:
    """The chat's pending seqs without ``seq`` (an aggregation expression)."""
    return {"$filter": {"input": "$pending_seqs", "cond": {"$ne": ["$$this", seq]}}}


class MongoChatRepository:
    """The ``chats`` collection: one document per chat, carrying its seq counter, per-side
    read watermarks and unread counts, and its last message, so that listing chats never
    reads messages."""

    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s  # bounds every call (translate_outages)
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
    async def allocate_seq(self, chat_id: str) -> int:
        # Chat.with_seq_allocated: the first stage takes the seq, the second reads it back
        # ($last_seq is the new value there) to append it to the pending seqs, dropping
        # those older than the window (sends that never finished).
        key = oid(chat_id)
        doc = None if key is None else await self._chats.find_one_and_update(
            {"_id": key},
            [{"$set": {"last_seq": {"$add": ["$last_seq", 1]}}},
             {"$set": {"pending_seqs": {"$concatArrays": [
                 {"$filter": {"input": {"$ifNull": ["$pending_seqs", []]}, "cond": {
                     "$gt": ["$$this", {"$subtract": ["$last_seq", PENDING_SEQS_WINDOW]}]}}},
                 ["$last_seq"],
             ]}}}],
            projection={"last_seq": 1}, return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise ChatNotFound(chat_id)
        seq: int = doc["last_seq"]
        return seq

    @translate_outages
    async def apply_message(
        self, chat_id: str, sender: UserType | None, seq: int, message_id: str, at: datetime,
        snapshot: ProductSnapshot | None,
    ) -> Chat:
        # Chat.with_message: the filter on pending_seqs makes it apply once; every field is
        # a maximum or guarded by $cond on the stored values, so concurrent sends may apply
        # in any order. The document before is returned: with_message applied to it is
        # exactly what was written.
        sent = "system_sent_seq" if sender is None else f"{side(sender)}_sent_seq"
        newer = {"$gt": [seq, "$last_message_seq"]}
        changes: Document = {
            "pending_seqs": _without(seq),
            sent: {"$max": [{"$ifNull": [f"${sent}", 0]}, seq]},
            "updated_at": {"$max": ["$updated_at", at]},
            "last_message_id": {"$cond": [newer, new_oid(message_id), "$last_message_id"]},
            "last_message_at": {"$cond": [newer, at, "$last_message_at"]},
            "last_message_seq": {"$cond": [newer, seq, "$last_message_seq"]},
            "revision": _bumped,
        }
        for addressed in sides_addressed(sender):
            unread, read_seq = f"{side(addressed)}_unread", f"{side(addressed)}_read_seq"
            changes[unread] = {"$cond": [{"$gt": [seq, f"${read_seq}"]},
                                         {"$add": [f"${unread}", 1]}, f"${unread}"]}
        if snapshot is not None:
            changes.update({name: {"$literal": value} for name in SNAPSHOT_FIELDS
                            if (value := getattr(snapshot, name)) is not None})
        key = oid(chat_id)
        if key is None:
            raise ChatNotFound(chat_id)
        doc = await self._chats.find_one_and_update(
            {"_id": key, "pending_seqs": seq}, [{"$set": changes}],
            return_document=ReturnDocument.BEFORE,
        )
        if doc is not None:
            return _chat_from(doc).with_message(sender, seq, message_id, at, snapshot)
        doc = await self._chats.find_one({"_id": key})  # applied already (a retry)
        if doc is None:
            raise ChatNotFound(chat_id)
        return _chat_from(doc)

    @translate_outages
    async def mark_read(self, chat_id: str, reader: UserType) -> tuple[Chat, Chat]:
        # Chat.read_by in one update; the document before it is returned, and applying
        # read_by to it gives exactly the document the update wrote.
        mine, other = side(reader), side(reader.other)
        addressed = {"$max": [f"${other}_sent_seq", {"$ifNull": ["$system_sent_seq", 0]}]}
        changed = {"$or": [{"$ne": [f"${mine}_read_seq", addressed]},
                           {"$ne": [f"${mine}_unread", 0]}]}
        key = oid(chat_id)
        doc = None if key is None else await self._chats.find_one_and_update(
            {"_id": key},
            [{"$set": {"revision": {"$cond": [changed, _bumped, {"$ifNull": ["$revision", 0]}]}}},
             {"$set": {f"{mine}_read_seq": addressed, f"{mine}_unread": 0}}],
            return_document=ReturnDocument.BEFORE,
        )
        if doc is None:
            raise ChatNotFound(chat_id)
        before = _chat_from(doc)
        return before, before.read_by(reader)

    @translate_outages
    async def forget_message(
        self, chat_id: str, message: Message, replacement: Message | None
    ) -> Chat:
        # Chat.without_message in one update pipeline, each field decided by $cond on the
        # stored values, so it composes with concurrent sends and reads: a message still
        # pending is only dropped from the pending seqs (it never counted).
        pending = {"$in": [message.seq, {"$ifNull": ["$pending_seqs", []]}]}
        changes: Document = {
            "pending_seqs": {"$cond": [pending, _without(message.seq), "$pending_seqs"]},
            "revision": {"$cond": [pending, {"$ifNull": ["$revision", 0]}, _bumped]},
        }
        for addressed in sides_addressed(message.sender_side):
            unread, read_seq = f"{side(addressed)}_unread", f"{side(addressed)}_read_seq"
            changes[unread] = {"$cond": [
                {"$and": [{"$not": [pending]}, {"$gt": [message.seq, f"${read_seq}"]}]},
                {"$max": [0, {"$subtract": [f"${unread}", 1]}]},
                f"${unread}",
            ]}
        message_key = oid(message.id)
        if message_key is not None:  # a malformed id is never the stored last message
            was_last = {"$and": [{"$not": [pending]},
                                 {"$eq": ["$last_message_id", message_key]}]}
            changes["last_message_id"] = {"$cond": [
                was_last, {"$literal": new_oid(replacement.id) if replacement else None},
                "$last_message_id"]}
            changes["last_message_seq"] = {"$cond": [
                was_last, replacement.seq if replacement else 0, "$last_message_seq"]}
        key = oid(chat_id)
        doc = None if key is None else await self._chats.find_one_and_update(
            {"_id": key}, [{"$set": changes}], return_document=ReturnDocument.AFTER)
        if doc is None:
            raise ChatNotFound(chat_id)
        return _chat_from(doc)

    @translate_outages
    async def page_for(
        self, user: UserRef, limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        # One find on customer_chats / vendor_chats: equality on the user, the cursor as a
        # range on last_message_at (index bounds) plus the tie on _id, sorted by the index.
        if limit <= 0:  # limit(0) would mean "no limit" to MongoDB
            return []
        query: Document = {f"{side(user.type)}_id": user.id}
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
    async def set_blocking(
        self, customer_id: int, vendor_id: int, blocker: UserType, on: bool
    ) -> list[Chat]:
        # On the chat_key prefix: the pair's chats (one per product).
        pair = {"customer_id": customer_id, "vendor_id": vendor_id}
        field = f"{side(blocker)}_blocks_{side(blocker.other)}"
        await self._chats.update_many(pair, {"$set": {field: on}})
        return [_chat_from(doc) async for doc in self._chats.find(pair)]

    @translate_outages
    async def blocking_between(self, customer_id: int, vendor_id: int) -> tuple[bool, bool]:
        doc = await self._chats.find_one(
            {"customer_id": customer_id, "vendor_id": vendor_id},
            projection={"customer_blocks_vendor": 1, "vendor_blocks_customer": 1})
        if doc is None:
            return False, False
        return doc.get("customer_blocks_vendor", False), doc.get("vendor_blocks_customer", False)

    @translate_outages
    async def claim_unread_notice(
        self, chat_id: str, side: UserType, read_seq: int, token: str
    ) -> bool:
        key = oid(chat_id)
        if key is None:
            return False
        field = f"{side.value}_unread_notice"
        result = await self._chats.update_one(
            {"_id": key, "$or": [{f"{field}.seq": {"$ne": read_seq}},
                                 {f"{field}.token": token}]},
            {"$set": {field: {"seq": read_seq, "token": token}}})
        return bool(result.matched_count)

    @translate_outages
    async def about_product(self, product_id: str, limit: int) -> list[Chat]:
        if limit <= 0:
            return []
        cursor = self._chats.find({"product_id": product_id}).sort(
            [("last_message_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_chat_from(doc) async for doc in cursor]

    @translate_outages
    async def erase_side(self, user: UserRef) -> int:
        result = await self._chats.update_many(
            {f"{side(user.type)}_id": user.id}, {"$set": side_fields(user.type)})
        return int(result.matched_count)

    @translate_outages
    async def sees_presence_of(self, viewer: UserRef, subject: UserRef) -> bool:
        if viewer.type is subject.type:
            return False
        customer, vendor = (viewer, subject) if subject.type is UserType.VENDOR else (
            subject, viewer)
        query: Document = {"customer_id": customer.id, "vendor_id": vendor.id}
        if subject.type is UserType.CUSTOMER:
            # On the chat_key prefix: reads the pair's chats (one per product) only.
            query["customer_sent_seq"] = {"$gt": 0}
            doc = await self._chats.find_one(query, projection={"_id": 1})
        else:  # covered by the prefix of chat_key: no document is read
            doc = await self._chats.find_one(query, projection={"_id": 0, "vendor_id": 1})
        return doc is not None

    @translate_outages
    async def presence_audience(self, subject: UserRef, limit: int) -> list[UserRef]:
        # Walk the subject's chats, most recent first, until ``limit`` distinct users: the
        # cost is what is walked, never more than the subject's chats.
        if limit <= 0:
            return []
        other = subject.type.other
        field = f"{side(other)}_id"
        query: Document = {f"{side(subject.type)}_id": subject.id,
                           # who the subject blocks sees nothing of them
                           f"{side(subject.type)}_blocks_{side(other)}": {"$ne": True}}
        if subject.type is UserType.CUSTOMER:
            query["customer_sent_seq"] = {"$gt": 0}  # only the vendors they wrote to
        cursor = self._chats.find(query, projection={"_id": 0, field: 1}).sort(
            [("last_message_at", DESCENDING), ("_id", DESCENDING)])
        seen: dict[int, None] = {}
        try:
            async for doc in cursor:
                seen[doc[field]] = None
                if len(seen) >= limit:
                    break
        finally:
            await cursor.close()
        return [UserRef(other, user_id) for user_id in seen]
