"""Attachments: photos and documents that users upload and then send in messages.

An upload is recognised by its content (magic bytes), never by its name or declared type.
What is stored is never the upload itself for images (they are decoded and re-encoded),
and only ever one of ``STORED_MIMES``: nothing is stored or served as HTML or SVG.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime

import attrs

from chat_server.domain.errors import DomainError, FieldError, InvalidInput
from chat_server.domain.users import UserRef

MAX_ATTACHMENTS_PER_MESSAGE = 10
MAX_NAME_CHARS = 200
MIB = 2**20


class MediaKind(enum.Enum):
    IMAGE = "image"
    FILE = "file"


class Variant(enum.Enum):
    """The stored forms of an attachment: the re-encoded image (or the PDF) and, for
    images, a thumbnail."""

    ORIGINAL = "original"
    THUMB = "thumb"


class MediaFormat(enum.Enum):
    """The formats accepted on upload, each recognised by its magic bytes."""

    JPEG = "JPEG"
    PNG = "PNG"
    GIF = "GIF"
    WEBP = "WEBP"
    PDF = "PDF"

    @property
    def kind(self) -> MediaKind:
        return MediaKind.FILE if self is MediaFormat.PDF else MediaKind.IMAGE


# The only types ever stored and served. GIF is accepted but stored as PNG (first frame).
STORED_MIMES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


def sniff(head: bytes) -> MediaFormat | None:
    """The format named by the first bytes of a file, or ``None``.

    Signatures are matched at offset 0 only: a PDF with anything before ``%PDF-`` (which
    readers tolerate, and polyglots use) is not a PDF here.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return MediaFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaFormat.PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return MediaFormat.GIF
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return MediaFormat.WEBP
    if head.startswith(b"%PDF-"):
        return MediaFormat.PDF
    return None


SNIFF_BYTES = 12  # enough for every signature above


@attrs.frozen
class MediaLimits:
    """What an upload may be. Sizes are of the uploaded file, in bytes."""

    max_image_bytes: int = 10 * MIB
    max_pdf_bytes: int = 20 * MIB
    max_pixels: int = 40_000_000  # checked from the header, before decoding
    max_side: int = 2048  # longest side of the stored image
    thumb_side: int = 320  # longest side of the thumbnail

    def max_bytes_for(self, fmt: MediaFormat | None) -> int:
        """The size limit of a file of this format; unknown content gets the image limit
        (it is refused anyway, this only bounds how much of it is read)."""
        return self.max_pdf_bytes if fmt is MediaFormat.PDF else self.max_image_bytes

    @property
    def max_upload_bytes(self) -> int:
        return max(self.max_image_bytes, self.max_pdf_bytes)


def describe_size(size: int) -> str:
    """``10 MB`` (binary megabytes, as the limits are set), ``64 KB``, ``900 bytes``."""
    if size >= MIB:
        return f"{round(size / MIB, 1):g} MB"
    if size >= 1024:
        return f"{round(size / 1024):d} KB"
    return f"{size} bytes"


_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/<>:|?*]')


def clean_name(raw: str | None, extension: str) -> str:
    """A display name for a file: the last path component of what the client sent, without
    control or path characters, at most ``MAX_NAME_CHARS``, ending in ``.extension`` (the
    stored format's, whatever the client called it). Never used as a file path."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = stem.strip(" .") or "upload"
    return f"{stem[:MAX_NAME_CHARS - len(extension) - 1]}.{extension}"


@attrs.frozen
class Attachment:
    """A stored upload. ``message_id`` is ``None`` until it is sent in a message; then it
    belongs to that message only (``AttachmentRepository.claim``)."""

    id: str
    uploader: UserRef
    kind: MediaKind
    mime: str = attrs.field()
    size: int
    name: str
    width: int | None
    height: int | None
    has_thumbnail: bool
    created_at: datetime
    message_id: str | None = None

    @mime.validator
    def _stored_type(self, _: object, value: str) -> None:
        if value not in STORED_MIMES:
            raise ValueError(f"not a type the service stores: {value!r}")

    def has_variant(self, variant: Variant) -> bool:
        return variant is Variant.ORIGINAL or self.has_thumbnail


_MEDIA_ID = re.compile(r"[0-9a-f]{24}")


def is_media_id(value: object) -> bool:
    """Ids are 24 lowercase hex digits, the only spelling the service hands out."""
    return isinstance(value, str) and _MEDIA_ID.fullmatch(value) is not None


def validate_attachment_ids(ids: Sequence[object]) -> list[FieldError]:
    """The rules on a message's ``attachments`` list (the sender's use case checks them)."""
    if len(ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        return [FieldError("attachments", f"at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments")]
    if len(set(map(str, ids))) != len(ids):
        return [FieldError("attachments", "lists an attachment twice")]
    bad = [i for i in ids if not is_media_id(i)]
    return [FieldError("attachments", f"{str(b)[:30]!r} is not an attachment id") for b in bad]


class UnsupportedMedia(DomainError):
    """Not an accepted type, or not what it claims to be (415). ``str()`` says why."""


class MediaTooLarge(DomainError):
    """Over a size or pixel limit (413). ``str()`` names the limit."""


class TooManyUploads(DomainError):
    """The user's upload rate limit is spent (429)."""


class AttachmentNotFound(DomainError):
    """Unknown, deleted, or not visible to the asker (404)."""


class MediaAccessDenied(DomainError):
    """A media URL whose signature is wrong or expired, or signed for someone else (403)."""


class MediaBusy(Exception):
    """Too many uploads are waiting to be processed (503: retry shortly)."""


class AttachmentsNotClaimable(InvalidInput):
    """Some of the attachments given for a message cannot be attached to it (400): unknown,
    not the sender's upload, or already sent in another message. ``errors`` names each."""
