"""Attachment metadata and bytes in this process (the embedded default and the tests).

No method yields to the event loop between reading and writing, so each call is atomic,
``claim`` over all its ids included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from chat_server.application.media import StoredMedia
from chat_server.domain.errors import FieldError
from chat_server.domain.media import (
    STORED_MIMES,
    Attachment,
    AttachmentsNotClaimable,
    Variant,
    is_media_id,
)
from chat_server.domain.model import UserRef

NOT_FOUND = "was not found"
IN_USE = "is already used in another message"


class InMemoryAttachmentRepository:
    def __init__(self) -> None:
        self._by_id: dict[str, Attachment] = {}
        self._position: dict[str, int] = {}  # index in the claim that attached it
        self._expiring: set[str] = set()

    async def add(self, attachment: Attachment) -> None:
        self._by_id[attachment.id] = attachment

    async def get(self, attachment_id: str) -> Attachment | None:
        return self._by_id.get(attachment_id)

    async def by_ids(self, attachment_ids: Sequence[str]) -> list[Attachment]:
        return [self._by_id[i] for i in attachment_ids if i in self._by_id]

    async def by_message(self, message_id: str) -> list[Attachment]:
        found = [a for a in self._by_id.values() if a.message_id == message_id]
        return sorted(found, key=lambda a: (self._position.get(a.id, 0), a.id))

    async def claim(
        self, attachment_ids: Sequence[str], uploader: UserRef, message_id: str
    ) -> list[Attachment]:
        errors = []
        for attachment_id in attachment_ids:
            found = self._by_id.get(attachment_id)
            if found is None or found.uploader != uploader or attachment_id in self._expiring:
                errors.append(FieldError("attachments", f"{attachment_id[:30]} {NOT_FOUND}"))
            elif found.message_id not in (None, message_id):
                errors.append(FieldError("attachments", f"{attachment_id} {IN_USE}"))
        if errors:
            raise AttachmentsNotClaimable(errors)
        claimed = []
        for position, attachment_id in enumerate(attachment_ids):
            attached = attrs.evolve(self._by_id[attachment_id], message_id=message_id)
            self._by_id[attachment_id] = attached
            self._position[attachment_id] = position
            claimed.append(attached)
        return claimed

    async def release(self, attachment_ids: Sequence[str], message_id: str) -> None:
        for attachment_id in attachment_ids:
            found = self._by_id.get(attachment_id)
            if found is not None and found.message_id == message_id:
                self._by_id[attachment_id] = attrs.evolve(found, message_id=None)
                self._position.pop(attachment_id, None)

    async def delete(self, attachment_ids: Sequence[str]) -> None:
        for attachment_id in attachment_ids:
            self._by_id.pop(attachment_id, None)
            self._position.pop(attachment_id, None)
            self._expiring.discard(attachment_id)

    async def unattached_before(self, cutoff: datetime, limit: int) -> list[Attachment]:
        found = [a for a in self._by_id.values() if a.message_id is None and a.created_at < cutoff]
        return sorted(found, key=lambda a: (a.created_at, a.id))[:max(limit, 0)]

    async def mark_expiring(self, attachment_ids: Sequence[str]) -> list[str]:
        marked = []
        for attachment_id in attachment_ids:
            found = self._by_id.get(attachment_id)
            if found is not None and found.message_id is None:
                self._expiring.add(attachment_id)
                marked.append(attachment_id)
        return marked

    async def by_uploader(self, uploader: UserRef, limit: int) -> list[Attachment]:
        found = [a for a in self._by_id.values() if a.uploader == uploader]
        return sorted(found, key=lambda a: a.id)[:max(limit, 0)]


class InMemoryMediaStore:
    """Bytes in a dict: for tests and the in-memory default of a single process."""

    def __init__(self) -> None:
        self._blobs: dict[tuple[str, Variant], StoredMedia] = {}

    async def put(self, media_id: str, variant: Variant, data: bytes, mime: str) -> None:
        if not is_media_id(media_id) or mime not in STORED_MIMES:
            raise ValueError(f"cannot store {media_id!r} as {mime!r}")
        self._blobs[(media_id, variant)] = StoredMedia(bytes(data), mime)

    async def get(self, media_id: str, variant: Variant) -> StoredMedia | None:
        return self._blobs.get((media_id, variant))

    async def delete(self, media_id: str) -> None:
        for variant in Variant:
            self._blobs.pop((media_id, variant), None)


if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from chat_server.application.media import AttachmentRepository, MediaStore

    _repository: AttachmentRepository = InMemoryAttachmentRepository()
    _store: MediaStore = InMemoryMediaStore()
