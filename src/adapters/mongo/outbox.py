"""The outbox in MongoDB (collection ``outbox``), shared by every node: pending webhook
deliveries and jobs survive restarts and crashes, and each is leased to one node at a time.

One document per pending item; completing or giving up deletes it, so every document is
pending and the unique ``dedup_key`` index is "unique among pending items" without a
partial filter (SecantusDB ignores partial indexes, docs/storage.md "Query plans"). Every
change is a single-document atomic operation; a claim is one ``find_one_and_update`` per
item on the ``claim`` index. docs/storage.md lists the fields and indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError

from chat_server.adapters.mongo.client import translate_outages
from chat_server.application.outbox import OutboxItem

Document = dict[str, Any]
DUPLICATE_KEY = 11000


def dedup_key(item: OutboxItem) -> str:
    """Unique on every document: the item's key, or its own id when it has none."""
    return f"key|{item.key}" if item.key is not None else f"id|{item.id}"


def _item_to(item: OutboxItem) -> Document:
    return {
        "_id": item.id,
        "kind": item.kind,
        "data": dict(item.data),
        "created_at": item.created_at,
        "due_at": item.due_at,
        "attempts": item.attempts,
        "key": item.key,
        "dedup_key": dedup_key(item),
        "available_at": item.due_at,
        "lease_owner": None,
        "last_error": None,
    }


def _item_from(doc: Document) -> OutboxItem:
    return OutboxItem(id=doc["_id"], kind=doc["kind"], data=doc["data"],
                      created_at=doc["created_at"], due_at=doc["due_at"],
                      attempts=doc["attempts"], key=doc.get("key"))


class MongoOutbox:
    """``available_at`` is ``due_at`` while the item is free and the lease's expiry while
    it is leased, so "free and due, or leased and expired" is one range on one index."""

    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._outbox = db["outbox"]

    @translate_outages
    async def add(self, items: Sequence[OutboxItem]) -> int:
        if not items:
            return 0
        try:
            result = await self._outbox.insert_many([_item_to(i) for i in items], ordered=False)
        except BulkWriteError as exc:
            # A pending id or key again: the unique indexes refused it, as the port wants.
            # Anything else (a document too large ...) is a bug of the caller.
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return len(items) - len(errors)
        return len(result.inserted_ids)

    @translate_outages
    async def claim(
        self, owner: str, now: datetime, limit: int, lease_s: float
    ) -> list[OutboxItem]:
        lease_until = now + timedelta(seconds=lease_s)
        claimed: list[OutboxItem] = []
        for _ in range(limit):
            doc = await self._outbox.find_one_and_update(
                {"available_at": {"$lte": now}},
                {"$set": {"lease_owner": owner, "available_at": lease_until}},
                sort=[("available_at", ASCENDING), ("_id", ASCENDING)],
                return_document=ReturnDocument.BEFORE,
            )
            if doc is None:
                break
            claimed.append(_item_from(doc))
        return claimed

    @translate_outages
    async def complete(self, item_id: str, owner: str) -> bool:
        return await self._delete_held(item_id, owner)

    @translate_outages
    async def reschedule(
        self, item_id: str, owner: str, due_at: datetime, attempts: int, last_error: str
    ) -> bool:
        result = await self._outbox.update_one(
            {"_id": item_id, "lease_owner": owner},
            {"$set": {"due_at": due_at, "available_at": due_at, "attempts": attempts,
                      "last_error": last_error, "lease_owner": None}},
        )
        return bool(result.matched_count == 1)

    @translate_outages
    async def give_up(self, item_id: str, owner: str, reason: str) -> bool:
        # Deleted, not kept: the dispatcher's log line is the record (see the port).
        return await self._delete_held(item_id, owner)

    async def _delete_held(self, item_id: str, owner: str) -> bool:
        result = await self._outbox.delete_one({"_id": item_id, "lease_owner": owner})
        return bool(result.deleted_count == 1)

    @translate_outages
    async def pending_count(self) -> int:
        count: int = await self._outbox.count_documents({})
        return count


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.outbox import Outbox

    def _conforms(db: AsyncIOMotorDatabase[Any]) -> None:
        outbox: Outbox = MongoOutbox(db)
        del outbox
