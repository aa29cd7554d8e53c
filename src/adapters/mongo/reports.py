"""The ``reports`` collection: one document per report, for the marketplace's moderators."""

from __future__ import annotations

from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import Document, new_oid, user_key
from chat_server.domain.reports import Report
from chat_server.domain.users import UserRef, UserType


def _user(key: str) -> UserRef:
    user_type, _, user_id = key.partition(":")
    return UserRef(UserType(user_type), int(user_id))


def _report_from(doc: Document) -> Report:
    return Report(str(doc["_id"]), _user(doc["reporter"]), _user(doc["reported"]),
                  doc.get("chat_id"), doc["reason"], doc["created_at"])


class MongoReportRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s
        self._reports = db["reports"]

    @translate_outages
    async def add(self, report: Report) -> None:
        try:
            await self._reports.insert_one({
                "_id": new_oid(report.id), "reporter": user_key(report.reporter),
                "reported": user_key(report.reported), "chat_id": report.chat_id,
                "reason": report.reason, "created_at": report.created_at,
            })
        except DuplicateKeyError:
            return  # the same report again (a retry)

    @translate_outages
    async def by_reporter(self, reporter: UserRef, limit: int) -> list[Report]:
        if limit <= 0:
            return []
        cursor = self._reports.find({"reporter": user_key(reporter)}).sort(
            "created_at", DESCENDING).limit(limit)
        return [_report_from(doc) async for doc in cursor]
