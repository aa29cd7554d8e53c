"""The ``messages`` collection: one document per message, deleted ones kept (their seq
stays taken) with text and images erased.

Two fields exist only to keep hot queries proportional to what they return rather than to
a chat's history: ``unread_for`` (set while a message is unread by its recipient) and
``pending_for`` (set while it was never delivered). docs/storage.md lists every field,
index and the query it serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import Document, new_oid, oid, side, user_key
from chat_server.domain.errors import DuplicateClientMessageId
from chat_server.domain.media import Attachment, MediaKind
from chat_server.domain.model import Message, UserRef, UserType, sides_addressed

# History pages read a seq range a little wider than the page, for deleted messages.
HISTORY_SLACK = 8


def _user(user_type: str | None, user_id: int | None) -> UserRef | None:
    return None if user_type is None or user_id is None else UserRef(UserType(user_type), user_id)


def _parse_user_key(key: str) -> UserRef:
    user_type, _, user_id = key.partition(":")
    return UserRef(UserType(user_type), int(user_id))


def _listed(value: object) -> list[Any]:
    """A field written as a list (or, by the first release, as a single value)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _without(field: str, value: str) -> Document:
    """The list ``field`` without ``value`` (an aggregation expression that also reads the
    single values the first release wrote)."""
    as_list = {"$cond": [{"$isArray": f"${field}"}, f"${field}",
                         {"$cond": [{"$eq": [{"$type": f"${field}"}, "missing"]}, [],
                                    [f"${field}"]]}]}
    return {"$filter": {"input": as_list, "cond": {"$ne": ["$$this", value]}}}


def _embedded(a: Attachment) -> Document:
    """An attachment's metadata kept in its message's document (no lookup to show it)."""
    return {"id": a.id, "uploader": user_key(a.uploader), "kind": a.kind.value, "mime": a.mime,
            "size": a.size, "name": a.name, "width": a.width, "height": a.height,
            "has_thumbnail": a.has_thumbnail, "created_at": a.created_at}


def _attachment_from(doc: Document, message_id: str) -> Attachment:
    return Attachment(
        id=doc["id"], uploader=_parse_user_key(doc["uploader"]), kind=MediaKind(doc["kind"]),
        mime=doc["mime"], size=doc["size"], name=doc["name"], width=doc.get("width"),
        height=doc.get("height"), has_thumbnail=doc["has_thumbnail"],
        created_at=doc["created_at"], message_id=message_id)


def _message_from(doc: Document) -> Message:
    return Message(
        id=str(doc["_id"]),
        chat_id=str(doc["chat_id"]),
        seq=doc["seq"],
        sender=_user(doc.get("sender_type"), doc.get("sender_id")),
        recipient=_user(doc.get("recipient_type"), doc.get("recipient_id")),
        system_audience=tuple(_parse_user_key(k) for k in doc.get("audience") or ()),
        edited_at=doc.get("edited_at"),
        masked=doc.get("masked", False),
        attachments=tuple(_attachment_from(a, str(doc["_id"]))
                          for a in doc.get("attachments") or ()),
        text=doc.get("text"),
        images=tuple(doc.get("images") or ()),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        read_at=doc.get("read_at"),
        delivered_at=doc.get("delivered_at"),
        awaiting_delivery=bool(_listed(doc.get("pending_for"))),
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
        "sender_type": m.sender.type.value if m.sender else None,
        "sender_id": m.sender.id if m.sender else None,
        "recipient_type": m.recipient.type.value if m.recipient else None,
        "recipient_id": m.recipient.id if m.recipient else None,
        "text": m.text,
        "images": list(m.images),
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "read_at": m.read_at,
        "delivered_at": m.delivered_at,
        "recipient_online": m.recipient_online,
        "opened_chat": m.opened_chat,
        "deleted": m.deleted,
        "edited_at": m.edited_at,
        "masked": m.masked,
        "attachments": [_embedded(a) for a in m.attachments],
    }
    if m.system_audience:
        doc["audience"] = [user_key(u) for u in m.system_audience]
    # The idempotency key is on every message (unique index, no partial filter): with a
    # clientMessageId it is the (owner, id) pair, without one the message's own id.
    if m.client_message_id is not None:
        doc["client_message_id"] = m.client_message_id
        doc["dedup_key"] = _dedup_key(m.dedup_owner, m.client_message_id)
    else:
        doc["dedup_key"] = f"id|{m.id}"
    # Lists (a system message is addressed to both sides): one equality on an element
    # selects a side's unread messages, a recipient's undelivered ones.
    if m.read_at is None and not m.deleted:
        doc["unread_for"] = [s.value for s in sides_addressed(m.sender_side)]
    if m.awaiting_delivery and not m.deleted:
        doc["pending_for"] = [_pending_key(r) for r in m.recipients]
    return doc


def _pending_key(recipient: UserRef) -> str:
    return user_key(recipient)


def _dedup_key(owner: str, client_message_id: str) -> str:
    return f"{owner}|{client_message_id}"


def _is_client_id_conflict(exc: DuplicateKeyError) -> bool:
    details = exc.details or {}
    key_pattern = details.get("keyPattern") or {}
    return "dedup_key" in key_pattern or "idempotency" in str(exc)


class MongoMessageRepository:
    """The ``messages`` collection: one document per message, deleted ones kept (their
    seq stays taken) with text and images erased."""

    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s  # bounds every call (translate_outages)
        self._messages = db["messages"]

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
    async def by_client_id(self, owner: str, client_message_id: str) -> Message | None:
        doc = await self._messages.find_one({"dedup_key": _dedup_key(owner, client_message_id)})
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def by_ids(self, message_ids: Sequence[str]) -> list[Message]:
        keys = list(dict.fromkeys(k for k in map(oid, message_ids) if k is not None))
        if not keys:
            return []
        return [_message_from(doc) async for doc in self._messages.find({"_id": {"$in": keys}})]

    @translate_outages
    async def history(self, chat_id: str, before_seq: int, limit: int) -> list[Message]:
        # Bounded seq ranges walked backwards from before_seq, widening while deleted
        # messages leave a page short: every query names its range, so it reads about
        # `limit` documents on any server, even one that does not stop an index scan at the
        # limit (SecantusDB, the tests' server, does not).
        key = oid(chat_id)
        if key is None or limit <= 0:
            return []
        upper = before_seq
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
    async def export_page(
        self, chat_id: str, after_seq: int, up_to_seq: int, limit: int
    ) -> list[Message]:
        # Bounded seq ranges (no server has to stop a scan at a limit): a range of `limit`
        # seqs holds at most `limit` messages; gaps make it hold fewer, then the next range.
        key = oid(chat_id)
        found: list[Message] = []
        lower = after_seq
        while key is not None and lower < up_to_seq and len(found) < limit:
            upper = min(up_to_seq, lower + limit - len(found))
            cursor = self._messages.find(
                {"chat_id": key, "seq": {"$gt": lower, "$lte": upper}}).sort("seq", ASCENDING)
            found += [_message_from(doc) async for doc in cursor]
            lower = upper
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
        query: Document = {"chat_id": key, "unread_for": side(recipient),
                           "seq": {"$lte": up_to_seq}}
        ids: list[ObjectId] = []
        if limit > 0:
            cursor = self._messages.find(query, projection={"_id": 1}).sort(
                "seq", ASCENDING).limit(limit)
            ids = [doc["_id"] async for doc in cursor]
            if not ids:
                return []
        # A system message is unread for both sides: only this side leaves the list, and
        # the first reading sets read_at.
        await self._messages.update_many(query, [{"$set": {
            "read_at": {"$ifNull": ["$read_at", at]},
            "unread_for": _without("unread_for", side(recipient)),
        }}])
        return [str(i) for i in ids]

    @translate_outages
    async def edit(self, message_id: str, text: str | None, masked: bool, at: datetime
                   ) -> Message | None:
        key = oid(message_id)
        if key is None:
            return None
        doc = await self._messages.find_one_and_update(
            {"_id": key, "deleted": False},
            {"$set": {"text": text, "masked": masked, "edited_at": at, "updated_at": at}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _message_from(doc)

    @translate_outages
    async def erase(self, message_id: str, at: datetime) -> Message | None:
        key = oid(message_id)
        if key is None:
            return None
        # The filter on deleted makes it one-shot: of two concurrent calls one matches.
        doc = await self._messages.find_one_and_update(
            {"_id": key, "deleted": False},
            {"$set": {"deleted": True, "text": None, "images": [], "attachments": [],
                      "updated_at": at},
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
    async def mark_delivered(
        self, recipient: UserRef, message_ids: Sequence[str], at: datetime
    ) -> None:
        # Only messages still awaiting this recipient; one emitted before keeps its
        # delivered_at.
        keys = list(dict.fromkeys(k for k in map(oid, message_ids) if k is not None))
        pending = _pending_key(recipient)
        if keys:
            await self._messages.update_many(
                {"_id": {"$in": keys}, "pending_for": pending},
                [{"$set": {"delivered_at": {"$ifNull": ["$delivered_at", at]},
                           "pending_for": _without("pending_for", pending)}}],
            )


