"""Text frames written straight to the transport of uvicorn's sans-I/O WebSocket protocol.

uvicorn's ``websocket.send`` goes through websockets' ``Protocol.send_text``: a ``Frame``
object, its serialisation through the (here empty) list of extensions, a list of writes
joined, then ``transport.write``: about a fifth of the message path's CPU for the two
frames of a send (its ack and its emit). A server's text frame without extensions is a
2-10 byte header and the UTF-8 payload, unmasked (RFC 6455 section 5.2), so while the
connection is plainly open this writes exactly those bytes itself. Anything else (another
ASGI server or protocol, permessage-deflate negotiated, a close begun, a fragmented message
in progress) returns None and the frame takes the ASGI path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from websockets.protocol import OPEN

_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
FIN_TEXT = 0x81


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
    if type(protocol).__name__ != "WebSocketsSansIOProtocol":
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
        transport.write(text_frame(text.encode()))
        return True

    return write
