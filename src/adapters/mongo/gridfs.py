"""Attachment bytes in MongoDB's GridFS (bucket ``media``): shared by every node.

One GridFS file per variant, named ``<media id>/<variant>``, with ``metadata: {media_id,
variant, mime}``. GridFS inserts a file's document after all its chunks, so a reader sees
a whole file or none; ``put`` of an existing variant adds a revision and then deletes the
older ones, and readers always take the newest (``revision=-1``). The bucket's own indexes
(``files: filename, uploadDate`` and ``chunks: files_id, n`` unique), which motor creates
on the first upload, serve every query here.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from gridfs.errors import CorruptGridFile, NoFile
from motor.motor_asyncio import AsyncIOMotorDatabase, AsyncIOMotorGridFSBucket

from chat_server.adapters.mongo.client import translate_outages
from chat_server.application.media import StoredMedia
from chat_server.domain.media import STORED_MIMES, Variant, is_media_id

BUCKET = "media"
TRANSFER_TIMEOUT_S = 60.0


def _filename(media_id: str, variant: Variant) -> str:
    return f"{media_id}/{variant.value}"


class GridFSMediaStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any], bucket_name: str = BUCKET,
                 timeout_s: float = TRANSFER_TIMEOUT_S) -> None:
        self._bucket = AsyncIOMotorGridFSBucket(db, bucket_name=bucket_name)
        # A whole file moves within this (translate_outages): more than a single command.
        self.timeout_s = timeout_s

    @translate_outages
    async def put(self, media_id: str, variant: Variant, data: bytes, mime: str) -> None:
        if not is_media_id(media_id) or mime not in STORED_MIMES or not isinstance(variant, Variant):
            raise ValueError(f"cannot store {media_id!r} / {variant!r} as {mime!r}")
        name = _filename(media_id, variant)
        new_id = await self._bucket.upload_from_stream(
            name, data, metadata={"media_id": media_id, "variant": variant.value, "mime": mime})
        async for older in self._bucket.find({"filename": name, "_id": {"$ne": new_id}}):
            await self._delete_file(older._id)

    @translate_outages
    async def get(self, media_id: str, variant: Variant) -> StoredMedia | None:
        if not is_media_id(media_id):
            return None
        try:
            stream = await self._bucket.open_download_stream_by_name(_filename(media_id, variant))
            data: bytes = await stream.read()
        except (NoFile, CorruptGridFile):  # none, or deleted while being read
            return None
        metadata = stream.metadata or {}
        mime = metadata.get("mime")
        if mime not in STORED_MIMES:  # not written by put: never serve it
            return None
        return StoredMedia(bytes(data), mime)

    @translate_outages
    async def delete(self, media_id: str) -> None:
        if not is_media_id(media_id):
            return
        names = [_filename(media_id, v) for v in Variant]
        async for found in self._bucket.find({"filename": {"$in": names}}):
            await self._delete_file(found._id)

    async def _delete_file(self, file_id: object) -> None:
        with contextlib.suppress(NoFile):  # deleted meanwhile: idempotent
            await self._bucket.delete(file_id)


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.media import MediaStore

    def _conforms(db: AsyncIOMotorDatabase[Any]) -> None:
        store: MediaStore = GridFSMediaStore(db)
        del store
