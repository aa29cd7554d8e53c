"""The use cases of attachments: upload, read through a signed URL, sweep, delete.

One class per use case, called with a frozen command. Sending attachments in a message
(``AttachmentRepository.claim``) belongs to the send use case.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from chat_server.application.media import (
    AttachmentRepository,
    MediaGrant,
    MediaProcessor,
    MediaSigner,
    MediaStore,
    StoredMedia,
    UploadSource,
)
from chat_server.application.ports import Clock, IdGenerator, RateKind, RateLimiter
from chat_server.domain.media import (
    Attachment,
    AttachmentNotFound,
    MediaAccessDenied,
    MediaLimits,
    TooManyUploads,
    Variant,
    is_media_id,
)
from chat_server.domain.model import UserRef


@attrs.frozen
class UploadAttachment:
    uploader: UserRef
    source: UploadSource


class UploadAttachmentHandler:
    """Receive, check and store one upload; returns the new, unattached Attachment.

    - Every upload takes a token of the uploader's ``UPLOAD`` bucket first, whatever its
      outcome (a refused file counts too); without one: ``TooManyUploads``, and the body is
      not received.
    - The body is refused as soon as it passes the size limit of the format its first
      bytes announce (``UploadSource``); what the processor refuses is never stored.
    - Only what the processor made is stored. Both variants are stored before the metadata,
      so an attachment that exists can be served; a failure half way removes the bytes.
    """

    def __init__(
        self, processor: MediaProcessor, store: MediaStore, attachments: AttachmentRepository,
        limiter: RateLimiter, clock: Clock, ids: IdGenerator, limits: MediaLimits,
    ) -> None:
        self._processor = processor
        self._store = store
        self._attachments = attachments
        self._limiter = limiter
        self._clock = clock
        self._ids = ids
        self._limits = limits

    async def __call__(self, cmd: UploadAttachment) -> Attachment:
        if not await self._limiter.acquire(cmd.uploader, RateKind.UPLOAD):
            raise TooManyUploads(str(cmd.uploader))
        upload = await cmd.source.receive(self._limits)
        media = await self._processor.process(upload.data, upload.name)
        attachment = Attachment(
            id=self._ids.new_id(), uploader=cmd.uploader, kind=media.kind, mime=media.mime,
            size=len(media.data), name=media.name, width=media.width, height=media.height,
            has_thumbnail=media.thumbnail is not None, created_at=self._clock.now(),
        )
        try:
            await self._store.put(attachment.id, Variant.ORIGINAL, media.data, media.mime)
            if media.thumbnail is not None:
                await self._store.put(attachment.id, Variant.THUMB, media.thumbnail, media.mime)
            await self._attachments.add(attachment)
        except Exception:
            # Nothing refers to these bytes yet; if this fails too, the first error is
            # the one reported (the second is chained to it).
            await self._store.delete(attachment.id)
            raise
        return attachment


@attrs.frozen
class ReadAttachment:
    attachment_id: str
    variant: Variant
    viewer: UserRef  # who the URL says it was signed for
    grant: MediaGrant


@attrs.frozen
class AttachmentContent:
    attachment: Attachment
    media: StoredMedia


class ReadAttachmentHandler:
    """The bytes behind a signed media URL.

    - The grant must be ``MediaSigner``'s for this id, variant and viewer and unexpired,
      else ``MediaAccessDenied``; it is checked first, so ids cannot be probed without
      a URL.
    - Before it is sent, an attachment is the uploader's only (``MediaAccessDenied``).
    - Unknown, deleted (with its message), or without that variant: ``AttachmentNotFound``.
    """

    def __init__(
        self, signer: MediaSigner, store: MediaStore, attachments: AttachmentRepository
    ) -> None:
        self._signer = signer
        self._store = store
        self._attachments = attachments

    async def __call__(self, cmd: ReadAttachment) -> AttachmentContent:
        if not self._signer.verify(cmd.attachment_id, cmd.variant, cmd.viewer, cmd.grant):
            raise MediaAccessDenied(cmd.attachment_id)
        attachment = await self._attachments.get(cmd.attachment_id)
        if attachment is None or not attachment.has_variant(cmd.variant):
            raise AttachmentNotFound(cmd.attachment_id)
        if attachment.message_id is None and attachment.uploader != cmd.viewer:
            raise MediaAccessDenied(cmd.attachment_id)
        media = await self._store.get(cmd.attachment_id, cmd.variant)
        if media is None:
            raise AttachmentNotFound(cmd.attachment_id)
        return AttachmentContent(attachment, media)


@attrs.frozen
class SweepUnattached:
    """Remove expired uploads, ``batch`` at a time, at most ``limit`` per run."""

    limit: int = 1000
    batch: int = 100


class SweepUnattachedHandler:
    """Uploads never sent are removed ``ttl_s`` after they were made; returns how many.

    - An upload attached while the sweep runs is kept: only those that
      ``mark_expiring`` made unclaimable are deleted.
    - Bytes first, then the metadata: a sweep that stops half way leaves expiring
      attachments that the next sweep finds again.
    """

    def __init__(
        self, store: MediaStore, attachments: AttachmentRepository, clock: Clock, ttl_s: float
    ) -> None:
        self._store = store
        self._attachments = attachments
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)

    async def __call__(self, cmd: SweepUnattached) -> int:
        cutoff = self._clock.now() - self._ttl
        removed = 0
        for _ in range(-(-cmd.limit // cmd.batch)):  # bounded even if others race it
            found = await self._attachments.unattached_before(cutoff, cmd.batch)
            if not found:
                break
            doomed = await self._attachments.mark_expiring([a.id for a in found])
            for attachment_id in doomed:
                await self._store.delete(attachment_id)
            await self._attachments.delete(doomed)
            removed += len(doomed)
            if len(found) < cmd.batch:
                break
        return removed


@attrs.frozen
class DeleteAttachments:
    """Exactly one of: the attachments of a message, these ids, everything a user uploaded."""

    message_id: str | None = None
    attachment_ids: tuple[str, ...] = ()
    uploader: UserRef | None = None

    def __attrs_post_init__(self) -> None:
        given = (self.message_id is not None) + bool(self.attachment_ids) + (
            self.uploader is not None)
        if given != 1:
            raise ValueError("DeleteAttachments needs exactly one of message_id, "
                             "attachment_ids, uploader")


class DeleteAttachmentsHandler:
    """Delete attachments, bytes and metadata (a message deleted, a user erased); returns
    how many ids it deleted.

    - Bytes first, then metadata: a failure half way leaves the attachment listed, so that
      a retry finds and deletes it; its URLs answer 404 as soon as its bytes are gone.
    - Idempotent: deleting what is gone is no error.
    """

    BATCH = 100

    def __init__(self, store: MediaStore, attachments: AttachmentRepository) -> None:
        self._store = store
        self._attachments = attachments

    async def __call__(self, cmd: DeleteAttachments) -> int:
        if cmd.message_id is not None:
            found = await self._attachments.by_message(cmd.message_id)
            return await self._delete([a.id for a in found])
        if cmd.attachment_ids:
            return await self._delete([i for i in dict.fromkeys(cmd.attachment_ids)
                                       if is_media_id(i)])
        assert cmd.uploader is not None
        deleted = 0
        while batch := await self._attachments.by_uploader(cmd.uploader, self.BATCH):
            deleted += await self._delete([a.id for a in batch])
        return deleted

    async def _delete(self, ids: list[str]) -> int:
        for attachment_id in ids:
            await self._store.delete(attachment_id)
        if ids:
            await self._attachments.delete(ids)
        return len(ids)
