"""Text frames written straight to the transport of uvicorn's sans-I/O WebSocket protocol,
and read straight from it.

Writing.

uvicorn's ``websocket.send`` goes through websockets' ``Protocol.send_text``: a ``Frame``
object, its serialisation through the (here empty) list of extensions, a list of writes
joined, then ``transport.write``: about a fifth of the message path's CPU for the two
frames of a send (its ack and its emit). A server's text frame without extensions is a
2-10 byte header and the UTF-8 payload, unmasked (RFC 6455 section 5.2), so while the
connection is plainly open this writes exactly those bytes itself. Anything else (another
ASGI server or protocol, permessage-deflate negotiated, a close begun, a fragmented message
in progress) returns None and the frame takes the ASGI path.

While ``DirectReadProtocol`` handles the frames of one read, the frames written this way
are held per transport (``_corked``) and each connection's are written at once when that
read is handled: a client whose frames come several to a segment gets its acks in one
``send`` system call, and their recipient its messages in another, instead of one call per
frame. Nothing waits for a later event: the writes happen before the callback returns.
Whatever else writes to a transport (websockets' control frames and close, a frame of the
ASGI path) first writes what is held for it (``uncork``), so the order holds.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import OPEN

try:  # websockets' C unmasking, as its own parser imports it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the wheel has it
    from websockets.utils import apply_mask

_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
FIN_TEXT = 0x81
# A frame larger than this is written at once, not held (joining would copy it again).
CORK_MAX_FRAME = 16384
# The frames held per transport while the frames of one read are handled, else None.
_corked: dict[Any, list[bytes]] | None = None


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes((FIN_TEXT, size)) + payload
    if size < 65536:
        return _HEADER_16.pack(FIN_TEXT, 126, size) + payload
    return _HEADER_64.pack(FIN_TEXT, 127, size) + payload


def direct_text_writer(protocol: Any) -> Callable[[str], bool] | None:
    """For uvicorn's ``WebSocketsSansIOProtocol``: a function that writes one text frame
    and returns True, or returns False (writing nothing) when the frame must take the ASGI
    path. None for any other protocol."""
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    conn = getattr(protocol, "conn", None)
    transport = getattr(protocol, "transport", None)
    if conn is None or transport is None or not hasattr(conn, "extensions"):
        return None

    def write(text: str) -> bool:
        if (protocol.close_sent or protocol.initial_response is not None
                or conn.state is not OPEN or conn.extensions
                or conn.expect_continuation_frame or transport.is_closing()):
            return False
        frame = text_frame(text.encode())
        corked = _corked
        if corked is None:
            transport.write(frame)
        elif len(frame) > CORK_MAX_FRAME:
            uncork(transport)
            transport.write(frame)
        elif (held := corked.get(transport)) is None:
            corked[transport] = [frame]
        else:
            held.append(frame)
        return True

    return write


def uncork(transport: Any) -> None:
    """Writes what is held for ``transport``, before anything else is written to it."""
    if _corked and (held := _corked.pop(transport, None)):
        _write_held(transport, held)


def _write_corked() -> None:
    global _corked
    corked, _corked = _corked, None
    for transport, held in (corked or {}).items():
        _write_held(transport, held)


def _write_held(transport: Any, held: list[bytes]) -> None:
    if not transport.is_closing():  # closed meanwhile: nobody to read them
        transport.write(held[0] if len(held) == 1 else b"".join(held))


# ---------------------------------------------------------------------------- reading

RESUME = "chat.resume"  # an ASGI receive event of ours: a frame's handler to finish
_MASKED = 0x80


class FrameReader(Protocol):
    """What ``DirectReadProtocol`` hands text frames to (``engine_reading.FrameReader``)."""

    limit: int  # frames over this many bytes take the ASGI path (its size check)

    def ready(self) -> bool:
        """Whether a frame may be handled now: no earlier frame is being handled."""

    def __call__(self, text: str) -> Coroutine[Any, Any, None] | None:
        """Handles one text frame; returns what is left of it when its handler suspended."""


class DirectReadProtocol(WebSocketsSansIOProtocol):  # type: ignore[misc]
    """uvicorn's sans-I/O WebSocket protocol, whose complete text frames go straight to the
    engine's ``direct_reader`` as they arrive, see ``data_received``."""

    direct_reader: FrameReader | None = None
    _held = b""  # the start of a frame, cut by the end of a segment

    def data_received(self, data: bytes) -> None:
        """While a reader is attached, this protocol cuts what arrives into frames itself.
        A client's text frame (FIN, masked, no extension, valid UTF-8) that comes while
        nothing is queued before it is unmasked here and its handler stepped at once, in
        this callback: no ``Frame`` object, no generator-based parser, no ASGI event, no
        queue, no wake-up of the reader task. Every other frame (control frames, fragments,
        binary, frames behind a queued one) goes to websockets' parser whole, one at a
        time, so that its buffer is empty between frames and the next one may go the
        direct way again. A frame cut by the end of a segment is held until the rest comes
        (a frame over the size limit is websockets' to refuse, so held bytes are bounded by
        it). A handler that suspends (storage I/O) is put on the ASGI queue as a ``RESUME``
        event that the reader task awaits, and reading pauses as uvicorn pauses it for a
        queued frame: the frames behind it take the ASGI path, in order."""
        if self._held:
            data, self._held = self._held + data, b""
        reader = self.direct_reader
        conn = self.conn
        if reader is None or conn.state is not OPEN or conn.reader.buffer:
            uncork(self.transport)
            super().data_received(data)
            return
        global _corked
        if _corked is not None:  # pragma: no cover - callbacks do not nest
            self._frames(data, reader)
            return
        _corked = {}
        try:
            self._frames(data, reader)
        finally:
            _write_corked()

    def _parse(self, data: bytes) -> None:
        """websockets' parser for what the direct way does not take; it may answer (a PONG,
        a close) straight away, so what is held for this connection goes first."""
        uncork(self.transport)
        super().data_received(data)

    def _frames(self, data: bytes, reader: FrameReader) -> None:
        end, offset = len(data), 0
        limit = reader.limit
        while offset < end:
            head = _frame_head(data, offset, end)
            if head is None:  # not even the header yet
                self._held = data[offset:]
                return
            size, start = head
            stop = start + size
            if size > limit or self.conn.state is not OPEN:  # websockets' to refuse
                self._parse(data[offset:])
                return
            if stop > end:
                self._held = data[offset:]
                return
            if (data[offset] != FIN_TEXT or not data[offset + 1] & _MASKED
                    or not self._direct_now(reader) or not self._took(data, start, stop, reader)):
                self._parse(data[offset:stop])
            offset = stop

    def _direct_now(self, reader: FrameReader) -> bool:
        conn = self.conn
        return (reader.ready() and self.queue.empty() and not self.close_sent
                and conn.state is OPEN and not conn.extensions and conn.current_size is None
                and not conn.events and conn.parser_exc is None)

    def _took(self, data: bytes, start: int, stop: int, reader: FrameReader) -> bool:
        """Hands the text frame whose payload is ``data[start:stop]`` to the reader."""
        try:
            text = apply_mask(data[start:stop], data[start - 4:start]).decode()
        except UnicodeDecodeError:  # websockets' (uvicorn's) to close with 1007
            return False
        rest = reader(text)
        if rest is not None:
            resume: Any = {"type": RESUME, "step": rest}  # not one of ASGI's events
            self.queue.put_nowait(resume)
            if not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()
        return True


def _frame_head(data: bytes, offset: int, end: int) -> tuple[int, int] | None:
    """(payload size, payload start) of the frame at ``offset``, None while its header is
    not all there. A client's frame is masked: the 4-byte key ends the header; an unmasked
    one (a protocol error) counts none, and websockets refuses it."""
    if end - offset < 2:
        return None
    size, at = data[offset + 1] & 0x7F, offset + 2
    if size == 126:
        if end - at < 2:
            return None
        size, at = int.from_bytes(data[at:at + 2]), at + 2
    elif size == 127:
        if end - at < 8:
            return None
        size, at = int.from_bytes(data[at:at + 8]), at + 8
    if data[offset + 1] & _MASKED:
        at += 4
    return (size, at) if at <= end else None
