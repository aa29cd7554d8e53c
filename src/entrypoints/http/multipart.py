"""The body of an upload, received chunk by chunk and refused as soon as it is too large.

python-multipart's streaming ``MultipartParser`` (the parser under starlette's forms) is fed
each chunk as it arrives; only the ``file`` part is kept, in memory, and only up to the
limit of the format its first bytes announce (``MediaLimits.max_bytes_for``): one byte
more and the upload is refused with ``MediaTooLarge`` without reading on. Starlette's own
``request.form()`` would spool a file of any size to disk first and apply no limit to it.
Other parts are parsed and dropped, and the whole body is bounded too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from chat_server.application.media import UploadedFile
from chat_server.domain.errors import FieldError, InvalidInput
from chat_server.domain.media import (
    SNIFF_BYTES,
    MediaFormat,
    MediaLimits,
    MediaTooLarge,
    describe_size,
    sniff,
)

FIELD = "file"
# Boundaries, part headers and small form fields around the file.
ENVELOPE_BYTES = 64 * 1024
MAX_PART_HEADERS = 8
MAX_HEADER_BYTES = 4096


class UploadTimedOut(Exception):
    """The body did not arrive within the receive timeout (408)."""


def _no_file(message: str) -> InvalidInput:
    return InvalidInput([FieldError(FIELD, message)])


def _file_name(raw: bytes) -> str:
    """Browsers send the name as raw UTF-8; some clients (aiohttp, curl's --form-escape)
    percent-encode it. An all-ASCII name with escapes that decode to UTF-8 is decoded."""
    name = raw.decode("utf-8", "replace")
    if raw.isascii() and b"%" in raw:
        with contextlib.suppress(UnicodeDecodeError):
            return unquote_to_bytes(name).decode("utf-8")
    return name


class _FilePart:
    """Parser callbacks: collects the first ``file`` part, enforcing the size limit."""

    def __init__(self, limits: MediaLimits) -> None:
        self._limits = limits
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self._limit = limits.max_upload_bytes
        self._kind = "Uploads"
        self.data = bytearray()
        self.name: str | None = None
        self.complete = False

    def on_part_begin(self) -> None:
        self._headers = {}
        self._in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if (disposition == b"form-data" and options.get(b"name") == FIELD.encode()
                and self.name is None):
            self._in_file = True
            self.name = _file_name(options.get(b"filename", b""))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            return
        known = len(self.data) >= SNIFF_BYTES
        self.data += data[start:end]
        if not known and len(self.data) >= SNIFF_BYTES:
            fmt = sniff(bytes(self.data[:SNIFF_BYTES]))
            self._limit = self._limits.max_bytes_for(fmt)
            self._kind = "PDFs" if fmt is MediaFormat.PDF else "Images"
        if len(self.data) > self._limit:
            raise MediaTooLarge(f"{self._kind} may be at most {describe_size(self._limit)}")

    def on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self.complete = True

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks TypedDict
        return {
            "on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
        }


class MultipartUpload:
    """``UploadSource`` over a starlette request whose body is ``multipart/form-data`` with
    the file in the ``file`` field."""

    def __init__(self, request: Request, timeout_s: float) -> None:
        self._request = request
        self._timeout_s = timeout_s

    async def receive(self, limits: MediaLimits) -> UploadedFile:
        content_type, options = parse_options_header(self._request.headers.get("content-type"))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise _no_file("expected a multipart/form-data body with a file field")
        body_limit = limits.max_upload_bytes + ENVELOPE_BYTES
        declared = self._request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > body_limit:
            raise MediaTooLarge(f"Uploads may be at most {describe_size(limits.max_upload_bytes)}")
        part = _FilePart(limits)
        try:
            parser = MultipartParser(
                boundary, part.callbacks(), body_limit,
                max_header_count=MAX_PART_HEADERS, max_header_size=MAX_HEADER_BYTES)
        except FormParserError:
            raise _no_file("the multipart boundary is not valid") from None
        received = 0
        try:
            async with asyncio.timeout(self._timeout_s):
                async for chunk in self._request.stream():
                    received += len(chunk)
                    if received > body_limit:
                        raise MediaTooLarge(
                            f"Uploads may be at most {describe_size(limits.max_upload_bytes)}")
                    parser.write(chunk)
            parser.finalize()
        except TimeoutError:
            raise UploadTimedOut(f"the body did not arrive within {self._timeout_s:g} s") from None
        except FormParserError:
            raise _no_file("the multipart body is malformed") from None
        if part.name is None:
            raise _no_file("is required")
        if not part.complete:
            raise _no_file("the multipart body ended inside the file")
        data = bytes(part.data)
        part.data.clear()
        return UploadedFile(part.name, data)


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.media import UploadSource

    def _conforms(request: Request) -> None:
        source: UploadSource = MultipartUpload(request, 1.0)
        del source
