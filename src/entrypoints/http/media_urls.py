"""Media URLs and the wire form of an Attachment.

``GET /media/{id}[/thumb]?u=<type>:<id>&exp=<unix>&sig=<hex>``: ``sig`` is
HMAC-SHA256(key, ``id|variant|viewer|exp``) (``adapters/system/media_signing.py``). The
``u`` parameter names the viewer the URL was signed for: SERVER_API.md lists ``exp`` and
``sig`` only, but "signed for the user who receives the object" needs the verifier to know
who that is without a login (an ``<img>`` sends no token), so the URL carries it and the
signature covers it. Changing ``u`` to someone else breaks the signature (403).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from chat_server.application.media import MediaGrant, MediaSigner
from chat_server.domain.media import Attachment, Variant
from chat_server.domain.model import UserRef, UserType, is_valid_user_id

_VIEWER = re.compile(r"(customer|vendor):([1-9][0-9]{0,15})")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class BadMediaQuery(Exception):
    """The query of a media URL is missing a part or malformed (answered like a bad
    signature: 403)."""


class MediaUrls:
    """Makes signed media URLs for a viewer; ``base_url`` ("" for relative URLs) is where
    the service is reached from outside."""

    def __init__(self, signer: MediaSigner, base_url: str = "") -> None:
        self._signer = signer
        self._base = base_url.rstrip("/")

    def url(self, attachment_id: str, variant: Variant, viewer: UserRef) -> str:
        grant = self._signer.sign(attachment_id, variant, viewer)
        path = f"/media/{attachment_id}" + ("/thumb" if variant is Variant.THUMB else "")
        query = urlencode({"u": str(viewer), "exp": grant.expires_at, "sig": grant.signature})
        return f"{self._base}{path}?{query}"

    def to_wire(self, attachment: Attachment, viewer: UserRef) -> dict[str, Any]:
        """The Attachment object of SERVER_API.md section 4, with URLs signed for
        ``viewer``; ``width``/``height``/``thumbnailUrl`` only when they exist."""
        wire: dict[str, Any] = {
            "id": attachment.id, "kind": attachment.kind.value, "mime": attachment.mime,
            "size": attachment.size, "name": attachment.name,
        }
        if attachment.width is not None and attachment.height is not None:
            wire["width"], wire["height"] = attachment.width, attachment.height
        wire["url"] = self.url(attachment.id, Variant.ORIGINAL, viewer)
        if attachment.has_thumbnail:
            wire["thumbnailUrl"] = self.url(attachment.id, Variant.THUMB, viewer)
        return wire


def parse_media_query(query: Mapping[str, str]) -> tuple[UserRef, MediaGrant]:
    """The viewer and grant written in a media URL's query; ``BadMediaQuery`` otherwise."""
    viewer = _VIEWER.fullmatch(query.get("u", ""))
    expires = query.get("exp", "")
    signature = query.get("sig", "")
    if viewer is None or not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
        raise BadMediaQuery("expected u=<type>:<id>, exp=<unix seconds> and sig=<64 hex>")
    user_id = int(viewer.group(2))
    if not is_valid_user_id(user_id):
        raise BadMediaQuery("u: not a user id")
    return UserRef(UserType(viewer.group(1)), user_id), MediaGrant(int(expires), signature)
