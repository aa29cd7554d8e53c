"""A lean, bounded Engine.IO v4 server under python-socketio (``ChatEngineServer``).

python-socketio builds its Engine.IO server through ``AsyncServer._engineio_server_class``;
``ChatSocketServer`` returns this class there, so python-socketio itself is unchanged. What
it changes in python-engineio 4.15.1 (pinned; ``tests/unit/test_engine_contract.py`` fails
when the private methods and attributes used here change):

- **The lean WebSocket transport** (``engine_websocket`` sends, ``engine_reading`` reads;
  ``transport_impl="lean"``, the default): for sessions that open on WebSocket and for
  those that upgrade from long-polling. No task, future or timer per message: a text frame
  is handled in uvicorn's data callback when nothing is queued before it, otherwise the
  reader awaits the ASGI ``receive`` in the request's task; a send writes straight to the
  transport while the socket has no backlog and queues behind a writer task, started only
  then, when it has.
  ``transport_impl="stock"`` keeps the library's WebSocket handler (a task and a
  ``wait_for`` per frame, a queue and a writer task per socket) with everything below.
- **Bounded sessions** (``engine_socket``): per-session outgoing bytes bounded by
  ``socket_buffer_bytes`` on every transport, past it the session is closed; the heartbeat
  on one timer per session; PONGs count only for PINGs that reached the client; time spent
  in handlers is not counted against the client; closing never waits for the client;
  overlapping polls refused; oversized POSTs answered 413 at once.
- **Bounded handshakes**: a session that opens no Socket.IO namespace within
  ``connect_timeout`` seconds is closed (``ChatSocketServer`` calls ``opened_namespace``
  after a successful CONNECT), and at most ``max_pending_sessions`` such sessions exist at
  once: a handshake beyond that is refused (HTTP 503; a WebSocket handshake is closed, which
  uvicorn answers 403), so a flood of handshakes cannot grow memory. ``None``: no limit.
- **HTTP requests** are screened before the library reads them: a POST that declares more
  than ``max_http_buffer_size`` is answered 413 from its headers (the library waited for a
  first body chunk that such a client need not send), and a request whose client left
  before it arrived is dropped (the library failed on it with a traceback).
- The OPEN packet carries sub-second ``pingInterval`` / ``pingTimeout`` exactly (the
  library truncated the interval to whole seconds), and no monitoring task walks the
  sessions: each one times itself.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import engineio
from engineio import packet
from engineio.async_drivers.asgi import translate_request

from chat_server.entrypoints.socketio.engine_socket import (
    ANSWERED,
    ChatEngineSocket,
    refuse_too_large,
)

logger = logging.getLogger("chat_server.engine")

TRANSPORT_IMPLS = ("lean", "stock")
Receive = Callable[[], Awaitable[dict[str, Any]]]
DEFAULT_SOCKET_BUFFER_BYTES = 4 * 2**20
_REFUSAL_LOG_EVERY_S = 10.0


@attrs.define
class EngineStats:
    """Sessions this server closed or refused, since start (read by the metrics)."""

    buffer_overflows: int = 0  # a client did not read: CHAT_SOCKET_BUFFER_BYTES passed
    ping_timeouts: int = 0
    connect_timeouts: int = 0  # no namespace opened within CHAT_CONNECT_TIMEOUT_S
    handshakes_refused: int = 0  # CHAT_MAX_PENDING_SESSIONS reached, or draining
    oversized_packets: int = 0  # a POST or a frame over CHAT_MAX_PACKET_BYTES


class ChatEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    def __init__(self, *, transport_impl: str = "lean",
                 socket_buffer_bytes: int = DEFAULT_SOCKET_BUFFER_BYTES,
                 connect_timeout: float | None = None, max_pending_sessions: int | None = None,
                 **options: Any) -> None:
        if transport_impl not in TRANSPORT_IMPLS:
            raise ValueError(f"transport_impl must be one of {TRANSPORT_IMPLS}")
        options["monitor_clients"] = False  # every session has its own timer
        super().__init__(**options)
        self.transport_impl = transport_impl
        self.socket_buffer_bytes = socket_buffer_bytes
        self.connect_timeout = connect_timeout
        self.max_pending_sessions = max_pending_sessions
        self._pending: set[str] = set()  # sessions that opened no namespace yet
        self._refused = 0
        self._refusal_logged_at = 0.0
        self.stats = EngineStats()
        self.draining = False  # set by SessionDrain: new handshakes are refused

    @property
    def pending_sessions(self) -> int:
        return len(self._pending)

    def send_now(self, sid: str, pkt: packet.Packet) -> bool:
        """Sends (or queues, within the session's bound) a packet without awaiting: what
        ``send_packet`` does through three coroutines. False when the session is gone or
        closing (nothing was written)."""
        sock = self.sockets.get(sid)
        if sock is None or sock.closed or sock.closing:
            return False
        sock.enqueue(pkt)
        return True

    def opened_namespace(self, sid: str) -> None:
        """A session opened a Socket.IO namespace: it no longer counts as pending and has
        no connect timeout."""
        self._pending.discard(sid)
        sock = self.sockets.get(sid)
        if isinstance(sock, ChatEngineSocket):
            sock.admitted()

    def session_closing(self, sock: ChatEngineSocket) -> None:
        self._pending.discard(sock.sid)

    def session_closed(self, sock: ChatEngineSocket) -> None:
        if self.sockets.get(sock.sid) is sock:
            del self.sockets[sock.sid]

    async def handle_request(self, scope: dict[str, Any], receive: Receive, send: Any) -> Any:
        if scope.get("type") != "http":
            return await super().handle_request(scope, receive, send)
        if scope.get("method") == "POST" and _declared_length(scope) > self.max_http_buffer_size:
            environ = await translate_request(scope, _empty_body, send)
            sid = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("sid", [""])[0]
            sock = self.sockets.get(sid)
            await refuse_too_large(self, environ, sock if isinstance(sock, ChatEngineSocket)
                                   else None)
            return None
        first = await receive()
        if first.get("type") != "http.request":
            return None  # the client left before its request arrived
        return await super().handle_request(scope, _replay(first, receive), send)

    async def _handle_connect(self, environ: dict[str, Any], transport: str,
                              jsonp_index: int | None = None) -> Any:
        """The handshake (the library's, with this module's socket class and limits)."""
        if self.draining or (self.max_pending_sessions is not None
                             and len(self._pending) >= self.max_pending_sessions):
            self.stats.handshakes_refused += 1
            if not self.draining:
                self._log_refusal()
            return {"status": "503 SERVICE UNAVAILABLE",
                    "headers": [("Content-Type", "text/plain"), ("Retry-After", "1")],
                    "response": b'"Shutting down"' if self.draining
                    else b'"Too many pending sessions"'}
        sid = self.generate_id()
        sock = ChatEngineSocket(self, sid)
        self.sockets[sid] = sock
        self._pending.add(sid)
        sock.enqueue(packet.Packet(packet.OPEN, {
            "sid": sid,
            "upgrades": self._upgrades(sid, transport),
            "pingTimeout": round(self.ping_timeout * 1000),
            "pingInterval": round((self.ping_interval + self.ping_interval_grace_period) * 1000),
            "maxPayload": self.max_http_buffer_size,
        }))
        ret = await self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            self._pending.discard(sid)
            self.sockets.pop(sid, None)
            logger.warning("the application rejected a connection")
            return self._unauthorized(ret or None)
        sock.schedule_ping()
        if self.connect_timeout is not None:
            sock.start_connect_timer(self.connect_timeout)
        if transport == "websocket":
            return await sock.handle_get_request(environ)
        sock.connected = True
        headers = None
        if self.cookie:
            attributes = (self.cookie if isinstance(self.cookie, dict)
                          else {"name": self.cookie, "path": "/", "SameSite": "Lax"})
            headers = [("Set-Cookie", self._generate_sid_cookie(sid, attributes))]
        return self._ok(await sock.poll(), headers=headers, jsonp_index=jsonp_index)

    async def _make_response(self, response_dict: dict[str, Any], environ: dict[str, Any]) -> Any:
        if environ.get(ANSWERED):  # the socket answered this request itself (413)
            return None
        return await super()._make_response(response_dict, environ)

    def _log_refusal(self) -> None:
        """A flood of handshakes logs one line per interval, with the count."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged_at >= _REFUSAL_LOG_EVERY_S:
            logger.warning("refused %d handshakes: %d sessions have not opened a namespace "
                           "yet (CHAT_MAX_PENDING_SESSIONS)", self._refused, len(self._pending))
            self._refused = 0
            self._refusal_logged_at = now


def _declared_length(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1  # the library answers it
    return -1


async def _empty_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _replay(first: dict[str, Any], receive: Receive) -> Receive:
    """``receive`` with the request's first event, already read, put back in front."""
    pending = [first]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed
