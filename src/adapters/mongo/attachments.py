"""Attachment metadata in the ``attachments`` collection, with the contract of
``application/media.AttachmentRepository``.

Document: ``{_id: ObjectId, uploader: "customer:2", kind, mime, size, name, width, height,
has_thumbnail, created_at, message_id: ObjectId | null, position, expiring?}``.

``claim`` needs "never attached to two messages" without multi-document transactions (a
standalone MongoDB has none). Each attachment is attached by one single-document
compare-and-set (``message_id`` null or already this message, not expiring), so two
concurrent claims of one attachment cannot both win. A claim of several ids that fails on
one releases those it had attached itself, so it is all or nothing once it returns; until
then, a concurrent claim of the same ids for another message may fail on one that is
released a moment later (a client sending one upload in two messages at once: 400 for at
least one of them). A process that dies between the two steps leaves those uploads attached
to a message that was never stored; the send use case releases them on its own failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING, ReturnDocument

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import new_oid, oid
from chat_server.domain.errors import FieldError
from chat_server.domain.media import Attachment, AttachmentsNotClaimable, MediaKind
from chat_server.domain.model import UserRef, UserType

Document = dict[str, Any]
NOT_FOUND = "was not found"
IN_USE = "is already used in another message"


def _uploader(doc: Document) -> UserRef:
    user_type, _, user_id = doc["uploader"].partition(":")
    return UserRef(UserType(user_type), int(user_id))


def _attachment_from(doc: Document) -> Attachment:
    message_id = doc.get("message_id")
    return Attachment(
        id=str(doc["_id"]), uploader=_uploader(doc), kind=MediaKind(doc["kind"]),
        mime=doc["mime"], size=doc["size"], name=doc["name"], width=doc.get("width"),
        height=doc.get("height"), has_thumbnail=doc["has_thumbnail"],
        created_at=doc["created_at"],
        message_id=None if message_id is None else str(message_id),
    )


class MongoAttachmentRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s  # bounds every call (translate_outages)
        self._attachments = db["attachments"]

    @translate_outages
    async def add(self, attachment: Attachment) -> None:
        await self._attachments.insert_one({
            "_id": new_oid(attachment.id), "uploader": str(attachment.uploader),
            "kind": attachment.kind.value, "mime": attachment.mime, "size": attachment.size,
            "name": attachment.name, "width": attachment.width, "height": attachment.height,
            "has_thumbnail": attachment.has_thumbnail, "created_at": attachment.created_at,
            "message_id": None if attachment.message_id is None
            else new_oid(attachment.message_id),
            "position": 0,
        })

    @translate_outages
    async def get(self, attachment_id: str) -> Attachment | None:
        key = oid(attachment_id)
        doc = None if key is None else await self._attachments.find_one({"_id": key})
        return None if doc is None else _attachment_from(doc)

    @translate_outages
    async def by_ids(self, attachment_ids: Sequence[str]) -> list[Attachment]:
        keys = [k for k in map(oid, attachment_ids) if k is not None]
        if not keys:
            return []
        found = {doc["_id"]: doc async for doc in self._attachments.find({"_id": {"$in": keys}})}
        return [_attachment_from(found[k]) for k in keys if k in found]

    @translate_outages
    async def by_message(self, message_id: str) -> list[Attachment]:
        key = oid(message_id)
        if key is None:
            return []
        docs = [doc async for doc in self._attachments.find({"message_id": key})]
        docs.sort(key=lambda d: (d.get("position", 0), d["_id"]))
        return [_attachment_from(d) for d in docs]

    @translate_outages
    async def claim(
        self, attachment_ids: Sequence[str], uploader: UserRef, message_id: str
    ) -> list[Attachment]:
        target = new_oid(message_id)
        attached: list[ObjectId] = []  # attached by this call: released if it fails
        claimed: list[Attachment] = []
        errors: list[FieldError] = []
        for position, attachment_id in enumerate(attachment_ids):
            key = oid(attachment_id)
            if key is None:
                errors.append(FieldError("attachments", f"{attachment_id[:30]} {NOT_FOUND}"))
                continue
            if errors:  # failing anyway: only find out why the others would fail
                errors.extend(await self._why_not(key, attachment_id, uploader, target))
                continue
            before = await self._attachments.find_one_and_update(
                {"_id": key, "uploader": str(uploader), "expiring": {"$ne": True},
                 "message_id": {"$in": [None, target]}},
                {"$set": {"message_id": target, "position": position}},
                return_document=ReturnDocument.BEFORE,
            )
            if before is None:
                errors.extend(await self._why_not(key, attachment_id, uploader, target))
                continue
            if before.get("message_id") is None:
                attached.append(key)
            claimed.append(_attachment_from({**before, "message_id": target}))
        if errors:
            if attached:
                await self._release(attached, target)
            raise AttachmentsNotClaimable(errors)
        return claimed

    async def _why_not(
        self, key: ObjectId, attachment_id: str, uploader: UserRef, target: ObjectId
    ) -> list[FieldError]:
        doc = await self._attachments.find_one({"_id": key})
        if doc is None or doc["uploader"] != str(uploader) or doc.get("expiring"):
            return [FieldError("attachments", f"{attachment_id} {NOT_FOUND}")]
        if doc.get("message_id") not in (None, target):
            return [FieldError("attachments", f"{attachment_id} {IN_USE}")]
        return []  # claimable now: it is not the reason this claim fails

    async def _release(self, keys: list[ObjectId], target: ObjectId) -> None:
        await self._attachments.update_many(
            {"_id": {"$in": keys}, "message_id": target},
            {"$set": {"message_id": None, "position": 0}},
        )

    @translate_outages
    async def release(self, attachment_ids: Sequence[str], message_id: str) -> None:
        keys = [k for k in map(oid, attachment_ids) if k is not None]
        target = oid(message_id)
        if keys and target is not None:
            await self._release(keys, target)

    @translate_outages
    async def delete(self, attachment_ids: Sequence[str]) -> None:
        keys = [k for k in map(oid, attachment_ids) if k is not None]
        if keys:
            await self._attachments.delete_many({"_id": {"$in": keys}})

    @translate_outages
    async def unattached_before(self, cutoff: datetime, limit: int) -> list[Attachment]:
        if limit <= 0:
            return []
        cursor = self._attachments.find(
            {"message_id": None, "created_at": {"$lt": cutoff}}
        ).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_attachment_from(doc) async for doc in cursor]

    @translate_outages
    async def mark_expiring(self, attachment_ids: Sequence[str]) -> list[str]:
        keys = [k for k in map(oid, attachment_ids) if k is not None]
        if not keys:
            return []
        # Per document atomic against claim's compare-and-set: a document is either
        # attached first (then not matched here) or expiring first (then claim fails).
        await self._attachments.update_many(
            {"_id": {"$in": keys}, "message_id": None}, {"$set": {"expiring": True}})
        cursor = self._attachments.find(
            {"_id": {"$in": keys}, "message_id": None, "expiring": True}, projection={"_id": 1})
        return [str(doc["_id"]) async for doc in cursor]

    @translate_outages
    async def by_uploader(self, uploader: UserRef, limit: int) -> list[Attachment]:
        if limit <= 0:
            return []
        cursor = self._attachments.find({"uploader": str(uploader)}).sort(
            "_id", ASCENDING).limit(limit)
        return [_attachment_from(doc) async for doc in cursor]


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.media import AttachmentRepository

    def _conforms(db: AsyncIOMotorDatabase[Any]) -> None:
        repository: AttachmentRepository = MongoAttachmentRepository(db)
        del repository
