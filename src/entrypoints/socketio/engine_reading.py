"""The lean WebSocket transport of the Engine.IO layer, its reading half: no task, future or
timer per frame.

``serve`` accepts the WebSocket and awaits the ASGI ``receive`` directly in the
request's own task: one await per frame, no task, no ``wait_for`` (the session's heartbeat
timer is what notices a silent peer). It also runs the upgrade dance of a session that
started on long-polling: PING "probe" -> PONG "probe", a NOOP to end the pending poll, then
the client's UPGRADE; packets queued for the poll in the meantime move to the WebSocket, in
order, before anything newer. Under ``chat-server`` (uvicorn with
``engine_frames.DirectReadProtocol``) most text frames never reach ``receive``: while the
reader task waits with nothing queued, the protocol hands each complete text frame to
``FrameReader``, which steps its handler in the protocol's callback; a handler that
suspends comes back through the ASGI queue as a ``RESUME`` event that the reader task
finishes, so frames are handled one at a time and in order whichever way they come.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from engineio import packet

from chat_server.entrypoints.socketio.engine_frames import RESUME, DirectReadProtocol
from chat_server.entrypoints.socketio.engine_websocket import (
    Message,
    WebSocketSender,
    run_to_end,
)

if TYPE_CHECKING:
    from chat_server.entrypoints.socketio.engine_socket import ChatEngineSocket

logger = logging.getLogger("chat_server.engine")

CLOSE_TOO_LARGE = 1009


async def serve(sock: ChatEngineSocket, environ: dict[str, Any]) -> str:
    """Runs one WebSocket of a session to its end, in the ASGI request's own task: a new
    session that opened on WebSocket, or the upgrade of a long-polling one."""
    receive = environ["asgi.receive"]
    send = environ["asgi.send"]
    _release(environ)
    await send({"type": "websocket.accept"})
    ws = WebSocketSender(send, sock.server.socket_buffer_bytes, sock.heartbeat.delivered)
    if not sock.attach(ws):
        ws.close()
        return ""
    carried = False
    reason = sock.server.reason.TRANSPORT_CLOSE
    try:
        if sock.connected:
            if not await _upgrade(sock, ws, receive):
                return ""
        else:
            sock.connected = True
        carried = sock.carry(ws)
        if carried:
            reason = await _read(sock, ws, receive)
    finally:
        if carried:
            await sock.close(wait=False, abort=True, reason=reason)
        else:
            sock.detach(ws)
    return ""


# What a served WebSocket's environ keeps: what an answer to its request would read
# (python-engineio's ``_make_response``), should the library still make one.
_KEPT_OF_ENVIRON = ("REQUEST_METHOD", "asgi.scope", "asgi.receive", "asgi.send")


def _release(environ: dict[str, Any]) -> None:
    """Empties a WebSocket request's environ but for ``_KEPT_OF_ENVIRON`` (objects uvicorn
    holds anyway). Every frame from python-engineio's ``handle_request`` down to ``serve``
    holds the environ for as long as the WebSocket lives, and none reads it after ``serve``
    (the library returns its ``""`` as it is): its headers and the class that the library's
    ``translate_request`` makes per request stayed, about 5 KB per connection."""
    kept = {key: environ[key] for key in _KEPT_OF_ENVIRON if key in environ}
    environ.clear()  # deleting keys one by one would keep the dict's table at full size
    environ.update(kept)


async def _upgrade(sock: ChatEngineSocket, ws: WebSocketSender,
                   receive: Callable[[], Coroutine[Any, Any, Message]]) -> bool:
    sock.upgrading = True  # packets keep going to the poll until the UPGRADE
    try:
        if await _next_text(receive) != "2probe":
            logger.info("%s: failed websocket upgrade, no PING probe", sock.sid)
            return False
        ws.write("3probe")
        sock.queue_packet(packet.Packet(packet.NOOP))  # ends the pending poll
        upgrade = await _next_text(receive)
        if upgrade is None or upgrade[:1] != "5":
            logger.info("%s: failed websocket upgrade, no UPGRADE packet", sock.sid)
            return False
        return True
    finally:
        sock.upgrading = False


async def _next_text(receive: Callable[[], Coroutine[Any, Any, Message]]) -> str | None:
    event = await receive()
    text = event.get("text") if event["type"] == "websocket.receive" else None
    return text if isinstance(text, str) else None


class FrameReader:
    """The reader's synchronous half (``engine_frames.DirectReadProtocol``): a text frame
    that arrives while the reader task is idle is handled in the protocol's callback, its
    handler coroutine stepped by hand as ``WebSocketSender`` steps a send. On in-memory
    storage a send runs to its end in that one step: no task is woken for it. A handler
    that suspends is returned, for the reader task to finish before anything newer.

    Every step of a handler runs in one context, a copy of the reader task's taken when
    reading began: a handler that sets a context variable in one step and resets it in a
    later one (``pymongo.timeout`` around a storage call) must find it in the same context
    whether its first step ran here, in a protocol callback, or in the reader task."""

    __slots__ = ("_context", "_sock", "busy", "limit")

    def __init__(self, sock: ChatEngineSocket, limit: int) -> None:
        self._sock = sock
        self.limit = limit
        self.busy = False  # the reader task is handling a frame
        self._context = contextvars.copy_context()

    def ready(self) -> bool:
        return not self.busy and self._sock.live

    def __call__(self, text: str) -> Coroutine[Any, Any, None] | None:
        sock = self._sock
        coro = sock.deliver(text[1:]) if text[:1] == "4" else sock.receive_encoded(text)
        context = self._context
        try:
            yielded = context.run(coro.send, None)
        except StopIteration:
            return None
        except (Exception, asyncio.CancelledError):  # deliver logs its handler's failures
            # Nothing above this callback would catch it but the event loop, which would
            # close the connection.
            logger.exception("%s: a frame's handler failed", sock.sid)
            return None
        return run_to_end(coro, yielded, context)


async def _read(sock: ChatEngineSocket, ws: WebSocketSender,
                receive: Callable[[], Coroutine[Any, Any, Message]]) -> str:
    """The reader: one awaited ``receive`` per frame that the protocol did not hand to
    ``FrameReader`` already; returns the disconnect reason."""
    limit = sock.server.max_http_buffer_size
    deliver = sock.deliver
    protocol = getattr(receive, "__self__", None)
    direct = protocol if isinstance(protocol, DirectReadProtocol) else None
    reader = FrameReader(sock, limit)
    if direct is not None:
        direct.direct_reader = reader
    try:
        while sock.live:  # frames queued behind a failure or a close are not handled
            reader.busy = False
            event = await receive()
            reader.busy = True
            kind = event["type"]
            if kind == RESUME:
                await event["step"]
                continue
            if kind != "websocket.receive":
                break
            data = event.get("text")
            if data is None:
                data = event.get("bytes")
                if data is None:
                    continue
            if _too_large(data, limit):
                logger.info("%s: closing, a frame is over %d bytes", sock.sid, limit)
                sock.server.stats.oversized_packets += 1
                ws.close(CLOSE_TOO_LARGE, linger=sock.server.ping_timeout)
                return str(sock.server.reason.TRANSPORT_ERROR)
            if isinstance(data, bytes):
                await deliver(data)  # a binary attachment
            elif data[:1] == "4":
                await deliver(data[1:])
            else:
                await sock.receive_encoded(data)
        return str(sock.server.reason.TRANSPORT_CLOSE)
    finally:
        if direct is not None:
            direct.direct_reader = None
            _drop_resumes(direct.queue)


def _drop_resumes(queue: asyncio.Queue[Any]) -> None:
    """Closes the handlers left suspended behind the reader's end (never resumed)."""
    kept = []
    while not queue.empty():
        event = queue.get_nowait()
        if event["type"] == RESUME:
            event["step"].close()
        else:
            kept.append(event)
    for event in kept:
        queue.put_nowait(event)


def _too_large(data: str | bytes, limit: int) -> bool:
    size = len(data)
    if size > limit:
        return True
    # A character takes up to 4 bytes in UTF-8: encode only the texts that could be over.
    return isinstance(data, str) and size * 4 > limit and len(data.encode()) > limit

