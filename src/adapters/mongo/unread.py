"""The ``unread`` collection: per user (``_id`` "customer:2") a copy of each chat's unread
count for them with the chat's revision, and the totals, all in one document so that one
update keeps them consistent: ``{chats: {<chat id>: {n, r}}, total, with_unread}``.

The totals are recomputed by the update pipeline from the copies (one pass over the
user's entries, on the server); reading them reads two fields. The document holds an
entry per chat the user ever had unread messages in (about 40 bytes each).
"""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import Document, oid, user_key
from chat_server.application.ports import UnreadTotals
from chat_server.domain.model import UserRef

_ENTRIES = {"$objectToArray": {"$ifNull": ["$chats", {}]}}
_TOTALS: Document = {"$set": {
    "total": {"$reduce": {"input": _ENTRIES, "initialValue": 0,
                          "in": {"$add": ["$$value", "$$this.v.n"]}}},
    "with_unread": {"$reduce": {"input": _ENTRIES, "initialValue": 0, "in": {
        "$add": ["$$value", {"$cond": [{"$gt": ["$$this.v.n", 0]}, 1, 0]}]}}},
}}


class MongoUnreadCounters:
    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s  # bounds every call (translate_outages)
        self._unread = db["unread"]

    @translate_outages
    async def record(self, user: UserRef, chat_id: str, unread: int, revision: int) -> None:
        if oid(chat_id) is None:  # only ids this service made become field names
            return
        chats = {"$ifNull": ["$chats", {}]}
        kept = {"$getField": {"field": chat_id, "input": chats}}
        newer = {"$or": [{"$eq": [{"$type": kept}, "missing"]},
                         {"$lt": [{"$getField": {"field": "r", "input": kept}}, revision]}]}
        await self._unread.update_one({"_id": user_key(user)}, [
            {"$set": {"chats": {"$setField": {
                "field": chat_id, "input": chats,
                "value": {"$cond": [newer, {"$literal": {"n": unread, "r": revision}}, kept]},
            }}}},
            _TOTALS,
        ], upsert=True)

    @translate_outages
    async def totals(self, user: UserRef) -> UnreadTotals:
        doc = await self._unread.find_one({"_id": user_key(user)},
                                          projection={"total": 1, "with_unread": 1})
        if doc is None:
            return UnreadTotals(0, 0)
        return UnreadTotals(doc.get("total", 0), doc.get("with_unread", 0))

    @translate_outages
    async def forget(self, user: UserRef) -> None:
        await self._unread.delete_one({"_id": user_key(user)})
