"""A small HTTP service of the media routes alone, served by uvicorn in this process: the
real routes, the Pillow processor in worker processes, files on disk, metadata in memory:
the HTTP edge cases of uploads, quicker than through the whole service (whose tests are
tests/integration/protocol/test_attachments.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import jwt
import uvicorn
from core_fakes import FakeClock
from service_support import free_port
from starlette.applications import Starlette

from chat_server.adapters.media.fs import FsMediaStore
from chat_server.adapters.media.pillow import open_pillow_processor
from chat_server.adapters.memory import InMemoryRateLimiter
from chat_server.adapters.memory.attachments import InMemoryAttachmentRepository
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.adapters.system.media_signing import HmacMediaSigner
from chat_server.application.ports import RateKind, RateLimit
from chat_server.application.uploads import (
    DeleteAttachmentsHandler,
    ReadAttachmentHandler,
    UploadAttachmentHandler,
)
from chat_server.domain.media import MediaLimits
from chat_server.domain.model import UserRef, UserType
from chat_server.entrypoints.auth import TokenVerifier
from chat_server.entrypoints.http.media import UploadRoutesConfig, media_routes
from chat_server.entrypoints.http.media_urls import MediaUrls

SECRET = "media-tests-secret-0123456789-abcdef"
LIMITS = MediaLimits(max_image_bytes=2 * 2**20, max_pdf_bytes=3 * 2**20)
UPLOAD_BURST = 5
URL_TTL_S = 600
RECEIVE_TIMEOUT_S = 2.0
MAX_RECEIVING = 3
_ids = itertools.count(1000)


def new_user(user_type: UserType = UserType.CUSTOMER) -> UserRef:
    """A user no other test uses, so that each has its own upload allowance."""
    return UserRef(user_type, next(_ids))


def token_for(user: UserRef, ttl_s: int = 3600) -> str:
    claims = {"sub": str(user.id), "userType": user.type.value, "exp": int(time.time()) + ttl_s}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@attrs.define
class MediaService:
    url: str
    host: str
    port: int
    attachments: InMemoryAttachmentRepository
    store: FsMediaStore
    delete: DeleteAttachmentsHandler
    unix_time: list[float]  # the signer's clock: tests move it to expire URLs


@contextlib.asynccontextmanager
async def media_service(media_dir: Path) -> AsyncIterator[MediaService]:
    unix_time = [time.time()]
    signer = HmacMediaSigner(b"media-url-key-for-the-tests-0123", URL_TTL_S,
                             clock=lambda: unix_time[0])
    store = FsMediaStore(media_dir)
    store.prepare()
    attachments = InMemoryAttachmentRepository()
    limiter = InMemoryRateLimiter({RateKind.UPLOAD: RateLimit(1 / 3600, UPLOAD_BURST)})
    async with open_pillow_processor(LIMITS, workers=2, max_waiting=4) as processor:
        upload = UploadAttachmentHandler(processor, store, attachments, limiter, FakeClock(),
                                         ObjectIdGenerator(), LIMITS)
        read = ReadAttachmentHandler(signer, store, attachments)
        verifier = TokenVerifier(SECRET, ["HS256"])
        port = free_port()
        routes = media_routes(upload, read, verifier, MediaUrls(signer, f"http://127.0.0.1:{port}"),
                              UploadRoutesConfig(MAX_RECEIVING, RECEIVE_TIMEOUT_S))
        server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1",
                                               port=port, lifespan="off", log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
            await asyncio.sleep(0.02)
        try:
            yield MediaService(f"http://127.0.0.1:{port}", "127.0.0.1", port, attachments, store,
                               DeleteAttachmentsHandler(store, attachments), unix_time)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, 5)


class RawUpload:
    """An upload written by hand on a socket: chunked, as slowly or as far as a test wants."""

    BOUNDARY = "media-test-boundary"

    def __init__(self, service: MediaService, token: str, head: bytes = b"\xff\xd8\xff\xe0") -> None:
        self._service = service
        self._token = token
        self._head = head
        self.sent = 0

    async def open(self) -> RawUpload:
        self.reader, self.writer = await asyncio.open_connection(self._service.host,
                                                                 self._service.port)
        self.writer.write((
            "POST /api/v1/me/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self._token}\r\n"
            f"Content-Type: multipart/form-data; boundary={self.BOUNDARY}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode())
        self.chunk(f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
                   'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode() + self._head)
        await self.writer.drain()
        return self

    def chunk(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.sent += len(data)

    async def status(self) -> int:
        line = await self.reader.readline()
        return int(line.split()[1])

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
