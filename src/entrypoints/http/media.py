"""HTTP routes of attachments: ``POST /api/v1/me/uploads`` and ``GET /media/{id}[/thumb]``.

``media_routes(...)`` returns starlette routes to mount in the HTTP app. Every answer of the
upload route is the envelope ``{statusCode, error, message, data}`` with the HTTP status
equal to ``statusCode``; errors map from exceptions in one table (``_ERRORS``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat_server.application.uploads import (
    ReadAttachment,
    ReadAttachmentHandler,
    UploadAttachment,
    UploadAttachmentHandler,
)
from chat_server.domain.errors import InvalidInput, StorageUnavailable
from chat_server.domain.media import (
    AttachmentNotFound,
    MediaAccessDenied,
    MediaBusy,
    MediaKind,
    MediaTooLarge,
    TooManyUploads,
    UnsupportedMedia,
    Variant,
    is_media_id,
)
from chat_server.entrypoints.auth import TokenRejected, TokenVerifier, find_token
from chat_server.entrypoints.http.media_urls import BadMediaQuery, MediaUrls, parse_media_query
from chat_server.entrypoints.http.multipart import FIELD, MultipartUpload, UploadTimedOut

logger = logging.getLogger("chat_server.media")

RETRY_AFTER_S = 5
# A browser keeps a media response at most this long (less when the URL expires sooner),
# so a deleted attachment disappears from caches within it too.
CACHE_MAX_AGE_S = 3600

_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    TokenRejected: (401, ""),  # the message is the rejection's own
    InvalidInput: (400, "Invalid data provided"),
    MediaAccessDenied: (403, "This link is invalid or has expired"),
    BadMediaQuery: (403, "This link is invalid or has expired"),
    AttachmentNotFound: (404, "File was not found"),
    UploadTimedOut: (408, "The upload took too long"),
    MediaTooLarge: (413, "File is too large"),
    UnsupportedMedia: (415, "Unsupported file type"),
    TooManyUploads: (429, "Too many requests"),
    MediaBusy: (503, "Uploads are busy, please retry shortly"),
    StorageUnavailable: (503, "Storage is unavailable, please retry shortly"),
}
INTERNAL_ERROR = (500, "An internal error occurred")


def envelope(status: int, message: str | None, data: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"statusCode": status, "error": status >= 400, "message": message}
    if data is not None:
        body["data"] = data
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(exc: Exception, what: str) -> JSONResponse:
    status, message = next(
        (v for k, v in _ERRORS.items() if isinstance(exc, k)), INTERNAL_ERROR)
    if status == 500:
        logger.error("%s failed", what, exc_info=exc)
    elif status == 503:
        logger.warning("%s: %s", what, exc)
    data: dict[str, Any] | None = None
    if isinstance(exc, InvalidInput):
        data = {"errors": [{"field": e.field, "message": e.message} for e in exc.errors]}
    elif isinstance(exc, MediaTooLarge | UnsupportedMedia) and str(exc):
        data = {"errors": [{"field": FIELD, "message": str(exc)}]}
    return envelope(status, message or str(exc), data)


@attrs.frozen
class UploadRoutesConfig:
    max_receiving: int = 16  # bodies received at once; one more is a 503
    receive_timeout_s: float = 60.0


class _Gate:
    """Counts uploads being received or processed, so their memory stays bounded."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0


def _token(request: Request) -> str:
    """The JWT as the Socket.IO handshake finds it (the ``token`` header, else
    ``Authorization: Bearer``); a request has no handshake ``auth``."""
    environ = {k: v for k, v in (("HTTP_TOKEN", request.headers.get("token")),
                                 ("HTTP_AUTHORIZATION", request.headers.get("authorization")))
               if v}
    return find_token(None, environ)


def _disposition(kind: MediaKind, name: str) -> str:
    """``attachment`` for files (a PDF is never opened by the browser from here),
    ``inline`` for images; the name in ASCII and, exactly, in RFC 5987 form."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in name)
    kind_word = "attachment" if kind is MediaKind.FILE else "inline"
    return f"{kind_word}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def media_routes(
    upload: UploadAttachmentHandler, read: ReadAttachmentHandler, verifier: TokenVerifier,
    urls: MediaUrls, config: UploadRoutesConfig | None = None,
) -> list[BaseRoute]:
    """The routes, for ``Starlette(routes=...)`` or the service's HTTP app."""
    config = config or UploadRoutesConfig()
    gate = _Gate(config.max_receiving)

    async def create_upload(request: Request) -> Response:
        try:
            uploader = verifier.verify(_token(request)).user
        except TokenRejected as exc:
            return error_response(exc, "upload")
        if gate.busy >= gate.capacity:
            return error_response(MediaBusy(f"{gate.busy} uploads in progress"), "upload")
        gate.busy += 1
        try:
            source = MultipartUpload(request, config.receive_timeout_s)
            attachment = await upload(UploadAttachment(uploader, source))
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        except Exception as exc:
            return error_response(exc, f"upload of {uploader}")
        finally:
            gate.busy -= 1
        return envelope(201, "File has been uploaded", urls.to_wire(attachment, uploader))

    async def get_media(request: Request) -> Response:
        attachment_id = request.path_params["attachment_id"]
        variant = Variant.THUMB if request.url.path.endswith("/thumb") else Variant.ORIGINAL
        try:
            viewer, grant = parse_media_query(request.query_params)
            if not is_media_id(attachment_id):
                raise MediaAccessDenied(attachment_id)  # no URL was ever signed for it
            found = await read(ReadAttachment(attachment_id, variant, viewer, grant))
        except Exception as exc:
            return error_response(exc, "media read")
        remaining = max(0, grant.expires_at - int(time.time()))
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": f"private, max-age={min(remaining, CACHE_MAX_AGE_S)}",
            "Content-Disposition": _disposition(found.attachment.kind, found.attachment.name),
            "Referrer-Policy": "no-referrer",
        }
        return Response(found.media.data, media_type=found.media.mime, headers=headers)

    return [
        Route("/api/v1/me/uploads", create_upload, methods=["POST"]),
        Route("/media/{attachment_id}", get_media, methods=["GET"]),
        Route("/media/{attachment_id}/thumb", get_media, methods=["GET"]),
    ]
