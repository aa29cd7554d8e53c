"""The outbox in MongoDB (collection ``outbox``), shared by every node: pending webhook
deliveries and jobs survive restarts and crashes, and each is leased to one node at a time.

One document per pending item; completing or giving up deletes it, so every document is
pending and the unique ``dedup_key`` index is "unique among pending items" without a
partial filter (SecantusDB ignores partial indexes, docs/storage.md "Query plans"). Every
change is a single-document atomic operation; a claim takes each item with one
``update_one`` on ``(_id, version)``. docs/storage.md lists the fields and indexes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from chat_server.adapters.mongo.client import translate_outages
from chat_server.application.outbox import OutboxItem

Document = dict[str, Any]
DUPLICATE_KEY = 11000
# A claim reads this many candidates at once (or its limit and a few more) and keeps the
# rest for the next claims of this node, for at most CANDIDATES_TTL_S; it reads again at
# most CLAIM_ROUNDS times when other nodes took the candidates first.
CANDIDATES = 64
CANDIDATES_SLACK = 4
CANDIDATES_TTL_S = 2.0
CLAIM_ROUNDS = 3


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
        "version": 0,  # +1 at every claim and reschedule: the compare-and-set of a claim
    }


def _item_from(doc: Document) -> OutboxItem:
    return OutboxItem(id=doc["_id"], kind=doc["kind"], data=doc["data"],
                      created_at=doc["created_at"], due_at=doc["due_at"],
                      attempts=doc["attempts"], key=doc.get("key"))


class MongoOutbox:
    """``available_at`` is ``due_at`` while the item is free and the lease's expiry while
    it is leased, so "free and due, or leased and expired" is one range on one index.

    A claim reads the oldest available items (one indexed ``find``) and takes each with a
    compare-and-set ``update_one({_id, version})``: of two nodes racing for an item exactly
    one matches, since every claim and reschedule increments ``version`` and completing
    deletes. On SecantusDB, whose planner fetches every match of a range before it sorts
    and limits and whose ``findAndModify`` costs the collection's size, the point updates
    stay cheap and the ``find`` (which costs what is due) is made once per batch of
    candidates rather than once per item.
    """

    def __init__(
        self, db: AsyncIOMotorDatabase[Any], monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._outbox = db["outbox"]
        self._monotonic = monotonic
        self._candidates: deque[Document] = deque()  # read, not yet tried
        self._read_at = 0.0

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
        if self._monotonic() - self._read_at > CANDIDATES_TTL_S:
            self._candidates.clear()  # old reads: let newer due items take their turn
        claimed = await self._take(owner, now, limit, lease_until)
        for _ in range(CLAIM_ROUNDS):
            if len(claimed) >= limit:
                break
            saw_everything = await self._read_candidates(now, limit - len(claimed))
            claimed += await self._take(owner, now, limit - len(claimed), lease_until)
            if saw_everything and not self._candidates:
                break
        return claimed

    async def _read_candidates(self, now: datetime, wanted: int) -> bool:
        """Queue the oldest available items; ``True`` when that was every one of them."""
        count = max(CANDIDATES, wanted + CANDIDATES_SLACK)
        docs = await self._outbox.find({"available_at": {"$lte": now}}).sort(
            [("available_at", ASCENDING), ("_id", ASCENDING)]).limit(count).to_list(None)
        self._candidates = deque(docs)
        self._read_at = self._monotonic()
        return len(docs) < count

    async def _take(
        self, owner: str, now: datetime, wanted: int, lease_until: datetime
    ) -> list[OutboxItem]:
        # One update at a time: SecantusDB answers them in turn anyway (measured: no gain
        # from sending them together), and a miss simply moves on to the next candidate.
        taken: list[OutboxItem] = []
        while self._candidates and len(taken) < wanted:
            doc = self._candidates.popleft()
            if doc["available_at"] > now:
                continue  # read for a later "now" than this claim's
            result = await self._outbox.update_one(
                {"_id": doc["_id"], "version": doc["version"]},
                {"$set": {"lease_owner": owner, "available_at": lease_until},
                 "$inc": {"version": 1}},
            )
            if result.modified_count == 1:  # else: claimed, rescheduled or done meanwhile
                taken.append(_item_from(doc))
        return taken

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
                      "last_error": last_error, "lease_owner": None},
             "$inc": {"version": 1}},
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
