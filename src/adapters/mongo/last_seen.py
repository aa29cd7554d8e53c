"""The ``last_seen`` collection: one document per user, ``_id`` "customer:2"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import user_key
from chat_server.domain.model import UserRef


class MongoLastSeenRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s  # bounds every call (translate_outages)
        self._last_seen = db["last_seen"]

    @translate_outages
    async def set(self, user: UserRef, at: datetime) -> None:
        await self._last_seen.update_one({"_id": user_key(user)}, {"$set": {"at": at}},
                                         upsert=True)

    @translate_outages
    async def get(self, user: UserRef) -> datetime | None:
        doc = await self._last_seen.find_one({"_id": user_key(user)})
        if doc is None:
            return None
        at: datetime = doc["at"]
        return at

    @translate_outages
    async def forget(self, user: UserRef) -> None:
        await self._last_seen.delete_one({"_id": user_key(user)})
