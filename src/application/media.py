"""The ports of uploads and attachments: processing, the bytes, the metadata, signed URLs.

Kept apart from ``ports.py`` while attachments are being built; each Protocol states the
contract that every adapter keeps (``tests/integration/test_media_store_contract.py`` and
``test_attachment_contract.py`` run one suite on all of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from chat_server.domain.media import Attachment, MediaKind, MediaLimits, Variant
from chat_server.domain.model import UserRef


@attrs.frozen
class ProcessedMedia:
    """What is stored for an upload: never the uploaded bytes of an image.

    ``data`` is the re-encoded image (longest side at most ``MediaLimits.max_side``, no
    metadata) or the checked PDF; ``thumbnail`` is set for images only.
    """

    kind: MediaKind
    mime: str
    data: bytes
    name: str
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


class MediaProcessor(Protocol):
    """Turns an upload into what may be stored and served."""

    async def process(self, data: bytes, filename: str) -> ProcessedMedia:
        """Recognise ``data`` by its content (never by ``filename``, which only names the
        result), check it and re-encode it.

        Raises ``UnsupportedMedia`` (not an accepted type, not what it claims to be,
        truncated, a polyglot, active PDF content), ``MediaTooLarge`` (bytes or pixels over
        the limits), ``MediaBusy`` (too many uploads waiting: retry later). Never blocks the
        event loop.
        """


@attrs.frozen
class StoredMedia:
    data: bytes
    mime: str


class MediaStore(Protocol):
    """The bytes of attachments, one blob per (media id, variant)."""

    async def put(self, media_id: str, variant: Variant, data: bytes, mime: str) -> None:
        """Store or replace one variant. Atomic: a concurrent ``get`` sees the old bytes or
        the new ones, never a part. ``media_id`` must be a media id (``is_media_id``) and
        ``mime`` one of ``STORED_MIMES``; anything else is a bug (``ValueError``)."""

    async def get(self, media_id: str, variant: Variant) -> StoredMedia | None:
        """The variant, with the type it was stored with; ``None`` when there is none,
        including for a malformed id."""

    async def delete(self, media_id: str) -> None:
        """Remove every variant of ``media_id``. Idempotent: unknown ids are no error."""


class AttachmentRepository(Protocol):
    """The metadata of attachments. Every write is atomic per attachment.

    An attachment is *unattached* until ``claim`` gives it a ``message_id``; from then on it
    belongs to that message only, whatever the concurrency: ``claim`` sets ``message_id``
    with a compare-and-set on ``message_id is None``.
    """

    async def add(self, attachment: Attachment) -> None:
        """Store a new, unattached attachment (its id is new)."""

    async def get(self, attachment_id: str) -> Attachment | None:
        """``None`` for an unknown or malformed id."""

    async def by_ids(self, attachment_ids: Sequence[str]) -> list[Attachment]:
        """The stored ones among ``attachment_ids``, in the order given."""

    async def by_message(self, message_id: str) -> list[Attachment]:
        """The attachments of a message, in the order they were given to ``claim``."""

    async def claim(
        self, attachment_ids: Sequence[str], uploader: UserRef, message_id: str
    ) -> list[Attachment]:
        """Attach every one of ``attachment_ids`` to ``message_id``, or none of them.

        Each must exist, be ``uploader``'s, not be expiring (``mark_expiring``) and be
        unattached or already attached to ``message_id`` (so a retried send claims again
        without error). Returns them, attached, in the order given. Otherwise raises
        ``AttachmentsNotClaimable`` naming every id that failed and why (another user's
        upload reads as unknown) and leaves all of them as they were: ids this call had
        attached are released again. No attachment is ever attached to two messages.
        """

    async def release(self, attachment_ids: Sequence[str], message_id: str) -> None:
        """Undo a ``claim``: those of ``attachment_ids`` attached to ``message_id`` become
        unattached (for a send that failed after claiming). Others are left alone."""

    async def delete(self, attachment_ids: Sequence[str]) -> None:
        """Forget these attachments. Idempotent."""

    async def unattached_before(self, cutoff: datetime, limit: int) -> list[Attachment]:
        """Up to ``limit`` attachments created before ``cutoff`` and never attached
        (expiring ones included), oldest first: what the sweep removes."""

    async def mark_expiring(self, attachment_ids: Sequence[str]) -> list[str]:
        """Make those of ``attachment_ids`` that are still unattached unclaimable, for good,
        atomically per attachment; returns their ids (already expiring ones included).
        The sweep deletes only these, so an upload attached meanwhile is kept."""

    async def by_uploader(self, uploader: UserRef, limit: int) -> list[Attachment]:
        """Up to ``limit`` of the user's attachments, attached or not, in id order
        (erasure)."""


@attrs.frozen
class MediaGrant:
    """The proof carried by a media URL: until when, and the signature."""

    expires_at: int  # unix seconds
    signature: str  # lowercase hex


class MediaSigner(Protocol):
    """Signs media URLs for one viewer, so that a URL handed to a user is theirs only."""

    def sign(self, media_id: str, variant: Variant, viewer: UserRef) -> MediaGrant:
        """A grant valid for the configured lifetime from now."""

    def verify(self, media_id: str, variant: Variant, viewer: UserRef, grant: MediaGrant) -> bool:
        """``True`` when ``grant`` was made by ``sign`` for exactly these three and has not
        expired. Compares in constant time."""


@attrs.frozen
class UploadedFile:
    name: str  # as the client sent it: display only
    data: bytes


class UploadSource(Protocol):
    """An upload still being received (the body of a request)."""

    async def receive(self, limits: MediaLimits) -> UploadedFile:
        """Receive the file. Raises ``MediaTooLarge`` as soon as it exceeds
        ``limits.max_bytes_for`` the format its first bytes announce, without receiving
        the rest, and ``InvalidInput`` when the request holds no file."""
