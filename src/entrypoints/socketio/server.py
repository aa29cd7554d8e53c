"""python-socketio's AsyncServer, hardened for untrusted clients.

Its Engine.IO server is ``ChatEngineServer`` (``engine.py``: the lean, bounded transport),
through python-socketio's ``_engineio_server_class`` hook.

Three private methods of ``socketio.AsyncServer`` are overridden (the version is pinned):
- ``_handle_eio_message``: a packet that is not valid Socket.IO/JSON is logged in one line
  and dropped, instead of a traceback per packet;
- ``_handle_event``: every client event goes to one dispatch path, with its ack id, so a
  client event named ``connect`` or ``disconnect`` can never reach the connect/disconnect
  handlers (it is an unknown event), and a malformed event packet is dropped;
- ``_handle_connect``: once the CONNECT packet is out, tells the engine that the session
  opened a namespace (it is no longer subject to the connect timeout and the cap on pending
  sessions) and runs the gateway's post-connect step.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
from engineio import packet as eio_packet
from socketio import packet

from chat_server.entrypoints.auth import TOKEN_HEADERS
from chat_server.entrypoints.socketio.encoding import ack_packet
from chat_server.entrypoints.socketio.engine import ChatEngineServer

logger = logging.getLogger("chat_server.socketio")

EventSink = Callable[[str, str, str, int | None, str, list[Any]], Awaitable[None]]
ConnectSink = Callable[[str, str], Awaitable[None]]


# An EVENT packet to a namespace, with an ack id or none: "2/chat,12[...]" (Socket.IO v5).
# A query in the namespace, 19 digits of id or more (the library refuses over 100) and
# anything else take the library's decoder.
_PLAIN_EVENT = re.compile(r"2(/[^,?]+),([0-9]{1,18})?(?![0-9])")


def _plain_event(data: Any) -> tuple[str, int | None, Any] | None:
    """(namespace, ack id, arguments) of a text EVENT packet the fast way, else None.
    Raises ValueError for arguments that are not JSON, as the library's decoder does."""
    if type(data) is not str or data[:2] != "2/":
        return None
    match = _PLAIN_EVENT.match(data)
    if match is None:
        return None
    namespace, ack_id = match.group(1, 2)
    payload = data[match.end():]
    return (namespace, None if ack_id is None else int(ack_id),
            orjson.loads(payload) if payload else None)


class StrictJson:
    """JSON for python-socketio: orjson, which rejects NaN and Infinity."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


class ChatSocketServer(socketio.AsyncServer):  # type: ignore[misc]
    def __init__(self, **options: Any) -> None:
        super().__init__(async_mode="asgi", json=StrictJson, async_handlers=False, **options)
        self._event_sink: EventSink | None = None
        self._connect_sink: ConnectSink | None = None
        # Emits by server event name since start (read by the metrics; names are code's).
        self.emitted: collections.Counter[str] = collections.Counter()

    def _engineio_server_class(self) -> type[ChatEngineServer]:
        return ChatEngineServer

    def route(self, on_event: EventSink, after_connect: ConnectSink) -> None:
        self._event_sink = on_event
        self._connect_sink = after_connect

    async def emit(self, event: str, data: Any = None, to: Any = None, room: Any = None,
                   skip_sid: Any = None, namespace: str | None = None, callback: Any = None,
                   ignore_queue: bool = False, confirm: Any = None) -> None:
        """The library's ``emit``, plus ``confirm`` (``manager.CrossNodeManager``): the
        (room, message id) pairs of a message that awaits delivery to those rooms' users."""
        self.emitted[event] += 1
        extra = {"confirm": confirm} if confirm else {}
        await self.manager.emit(event, data, namespace or "/", room=to or room,
                                skip_sid=skip_sid, callback=callback,
                                ignore_queue=ignore_queue, **extra)

    async def send_ack(self, eio_sid: str, namespace: str, ack_id: int, data: Any) -> None:
        bodies = getattr(self.manager, "bodies", None)
        try:
            text = None if bodies is None else ack_packet(namespace, ack_id, bodies.text(data))
        except TypeError:  # not JSON as orjson writes it (bytes ...): the library's encoder
            text = None
        if text is not None:
            self.eio.send_now(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, text))
            return
        await self._send_packet(
            eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=ack_id, data=[data])
        )

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        """Keeps, for the namespaces' CONNECTs, only what their handler reads of the
        handshake request (``auth.find_token``): the full environ (every header, the ASGI
        scope ...) stayed in memory for the session's lifetime, a few KB per connection."""
        result = await super()._handle_eio_connect(eio_sid, environ)
        if eio_sid in self.environ:
            self.environ[eio_sid] = {k: environ[k] for k in TOKEN_HEADERS if k in environ}
        return result

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            event = _plain_event(data) if eio_sid not in self._binary_packet else None
            if event is not None:  # what the library's decoder makes of it, without a Packet
                await self._handle_event(eio_sid, *event)
            else:
                await super()._handle_eio_message(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            logger.warning("dropped an invalid packet from %s: %s", eio_sid, str(exc)[:200])

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: Any
    ) -> None:
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            return
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            logger.warning("dropped an event packet without an event name from %s", sid)
            return
        assert self._event_sink is not None
        await self._event_sink(namespace, sid, eio_sid, id, data[0], data[1:])

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is not None and self.manager.is_connected(sid, namespace):
            self.eio.opened_namespace(eio_sid)
            assert self._connect_sink is not None
            await self._connect_sink(namespace, sid)
