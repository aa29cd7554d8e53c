"""One Engine.IO session of ``ChatEngineServer``: its bounded outgoing queue, long-polling,
the heartbeat, the connect timeout and closing.

- **Bounded.** What waits for the client (the long-polling queue, the stock WebSocket's
  queue, the lean WebSocket's backlog) is counted in bytes plus ``ENTRY_OVERHEAD`` per
  packet; past ``socket_buffer_bytes`` the session is failed: what is queued is dropped, the
  transport cut, and the session closed in the background, with python-socketio's
  disconnect handlers run as for any transport close. One packet larger than the bound is
  still accepted into an empty queue, so one big legitimate answer passes.
- **Heartbeat** (``engine_heartbeat``): one timer per session; PONGs count only for PINGs
  that reached the client; time the reader spends in handlers is not counted against it.
- **Never waits for the client when closing** (``close(wait=...)`` is ignored): the stock
  socket waited on ``queue.join()`` for a poll that might never come.
- **Long-polling as Node's engine.io does it**: a second concurrent GET (or POST) on a
  session is answered 400 and the session closed ("overlap from client"); a POST whose
  declared length, or whose body read so far (chunked), exceeds ``max_http_buffer_size`` is
  answered 413 at once and the session closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from engineio import async_socket, exceptions, packet, payload

from chat_server.entrypoints.socketio import engine_reading
from chat_server.entrypoints.socketio.engine_heartbeat import Heartbeat
from chat_server.entrypoints.socketio.engine_websocket import ENTRY_OVERHEAD, WebSocketSender

if TYPE_CHECKING:
    from chat_server.entrypoints.socketio.engine import ChatEngineServer

logger = logging.getLogger("chat_server.engine")

# Set in a request's environ when the socket answered it itself (the 413).
ANSWERED = "chat_server.answered"
# Strong references to background closes: the event loop keeps only weak ones.
_closing: set[asyncio.Task[None]] = set()


def _size(pkt: Any) -> int:
    data = pkt.data
    if isinstance(data, str | bytes | bytearray):
        return len(data) + ENTRY_OVERHEAD
    if data is None:
        return ENTRY_OVERHEAD
    # OPEN's dict: never binary, so the encoding cached here fits both transports.
    return len(pkt.encode()) + ENTRY_OVERHEAD


def _wire(pkt: Any) -> str | bytes:
    # A binary packet is never encoded here: Packet caches its first encoding, and a
    # polling recipient of the same packet needs the base64 one.
    return pkt.data if pkt.binary else pkt.encode()  # type: ignore[no-any-return]


class ChatEngineSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    # Set by the library's BaseSocket.__init__.
    server: ChatEngineServer
    sid: str
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool

    def __init__(self, server: ChatEngineServer, sid: str) -> None:
        super().__init__(server, sid)
        self._loop = asyncio.get_running_loop()
        self._limit = server.socket_buffer_bytes
        self._queued = 0  # bytes waiting in self.queue
        self._ws: WebSocketSender | None = None  # a lean WebSocket attached (probing or carrying)
        self._sender: WebSocketSender | None = None  # the lean WebSocket carrying the session
        self._abort_stock: Callable[[], None] | None = None
        self._failed = False
        self._polling = False
        self._posting = False
        self._connect_timer: asyncio.TimerHandle | None = None
        self.heartbeat = Heartbeat(self._loop, server.ping_interval, server.ping_timeout,
                                   self._ping, self._ping_timed_out)

    # What waits for a long-polling GET, or for the WebSocket that upgrades: created on
    # first use and dropped once the lean WebSocket carries the session (``carry``), since
    # nothing waits there after that (an asyncio.Queue is four deques, about 3 KB per
    # connection; a session that opens on WebSocket needs one only for its OPEN packet).
    _queue: asyncio.Queue[Any] | None = None

    @property
    def queue(self) -> asyncio.Queue[Any]:
        queue = self._queue
        if queue is None:
            queue = self._queue = asyncio.Queue()
            if getattr(self, "closed", False):
                queue.put_nowait(None)  # as close() leaves it: every poll returns at once
        return queue

    @queue.setter
    def queue(self, _: Any) -> None:
        self._queue = None  # BaseSocket.__init__ assigns one: it is made when needed

    def _drain_queue(self) -> list[Any]:
        queue = self._queue
        drained = []
        while queue is not None and not queue.empty():
            drained.append(queue.get_nowait())
        return drained

    @property
    def live(self) -> bool:
        """Not closing, closed or failed: what it receives is still handled."""
        return not (self.closing or self.closed or self._failed)

    @property
    def polling(self) -> bool:
        """A long-polling GET is waiting for packets."""
        return self._polling

    # ------------------------------------------------------------------ sending

    async def send(self, pkt: Any) -> None:
        self.enqueue(pkt)

    def enqueue(self, pkt: Any) -> None:
        """Sends or queues a packet, synchronously; a queue past the bound fails the session."""
        if self.closed or self._failed:
            return
        sender = self._sender
        if sender is not None:
            if not sender.write(_wire(pkt)):
                self._overflow(sender.backlog_bytes)
            return
        size = _size(pkt)
        if self._queued and self._queued + size > self._limit:
            self._overflow(self._queued)
            return
        self._queued += size
        self.queue.put_nowait(pkt)

    def queue_packet(self, pkt: Any) -> None:
        """Queues a control packet (PING, NOOP, CLOSE: a few bytes) whatever the bound."""
        self._queued += _size(pkt)
        self.queue.put_nowait(pkt)

    async def poll(self) -> list[Any]:
        """The queued packets, waiting for one if there is none; [] once closed."""
        first = await self.queue.get()
        if first is None:
            self.queue.put_nowait(None)  # every later poll returns at once too
            return []
        packets = [first]
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        for pkt in packets:
            self._queued -= _size(pkt)
            if pkt.packet_type == packet.PING:
                self.heartbeat.delivered()
        self._queued = max(self._queued, 0)
        return packets

    def _overflow(self, queued: int) -> None:
        logger.warning("%s: closing the session, %d bytes wait for a client that does not "
                       "read (CHAT_SOCKET_BUFFER_BYTES=%d)", self.sid, queued, self._limit)
        self.server.stats.buffer_overflows += 1
        self._fail(self.server.reason.TRANSPORT_ERROR)

    def _fail(self, reason: str) -> None:
        """Drops what is queued, cuts the transport, closes the session in the background
        (the caller may be another user's task: it must not run this one's handlers)."""
        if self._failed or self.closing or self.closed:
            return
        self._failed = True
        self.heartbeat.stop()
        self._drain_queue()
        self._queued = 0
        if self._ws is not None:
            self._ws.abort()
        elif self.upgraded and self._abort_stock is not None:
            self._abort_stock()
        else:  # long-polling: a waiting poll learns that the session is over
            self.queue_packet(packet.Packet(packet.CLOSE))
        self._spawn(self.close(wait=False, abort=True, reason=reason))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    # ------------------------------------------------------------------ receiving

    async def receive(self, pkt: Any) -> None:
        kind = pkt.packet_type
        if kind == packet.MESSAGE:
            await self.deliver(pkt.data)
        elif kind == packet.PONG:
            self.heartbeat.pong()
        elif kind == packet.UPGRADE:
            self.enqueue(packet.Packet(packet.NOOP))
        elif kind == packet.CLOSE:
            await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        else:
            raise exceptions.UnknownPacketError()

    async def receive_encoded(self, text: str) -> None:
        """A WebSocket text frame that is not a MESSAGE; undecodable or unknown is ignored,
        as the library's WebSocket handler does."""
        if text == "3":
            self.heartbeat.pong()
            return
        try:
            pkt = packet.Packet(encoded_packet=text)
        except ValueError:
            logger.debug("%s: dropped an undecodable frame", self.sid)
            return
        with contextlib.suppress(exceptions.UnknownPacketError):
            await self.receive(pkt)

    async def deliver(self, data: str | bytes) -> None:
        """One MESSAGE to python-socketio, counting the time the reader spends in it."""
        handler = self.server.handlers.get("message")
        if handler is None or not self.live:
            return
        heartbeat = self.heartbeat
        heartbeat.handling()
        try:
            await handler(self.sid, data)
        except Exception:  # one bad message must not end the reader
            logger.exception("%s: message handler failed", self.sid)
        finally:
            yield_now = heartbeat.handled()
        if yield_now:
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ heartbeat

    def schedule_ping(self) -> None:
        """Starts the heartbeat: the first PING after ``ping_interval``."""
        self.heartbeat.start()

    def _ping(self) -> bool:
        """Sends a PING; True if it reached the client already."""
        sender = self._sender
        if sender is None:
            self.queue_packet(packet.Packet(packet.PING))  # delivered once a GET returns it
            return False
        return sender.write_ping()

    def _ping_timed_out(self) -> None:
        if self.closing or self.closed or self._failed:
            return
        logger.info("%s: no PONG within %s s, closing the session", self.sid,
                    self.server.ping_timeout)
        self.server.stats.ping_timeouts += 1
        self._spawn(self.close(wait=False, abort=False, reason=self.server.reason.PING_TIMEOUT))

    async def check_ping_timeout(self) -> bool:
        """The library's polled check; the heartbeat's timer does the work here."""
        if self.closed:
            raise exceptions.SocketIsClosedError()
        return True

    async def _send_ping(self) -> None:
        """The library's task per ping, replaced by the heartbeat's timer."""

    # ------------------------------------------------------------------ connect timeout

    def start_connect_timer(self, seconds: float) -> None:
        self._connect_timer = self._loop.call_later(seconds, self._connect_expired)

    def admitted(self) -> None:
        """The session opened a Socket.IO namespace: no connect timeout any more."""
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def _connect_expired(self) -> None:
        self._connect_timer = None
        if not (self.closing or self.closed):
            logger.info("%s: no namespace opened in time, closing the session", self.sid)
            self.server.stats.connect_timeouts += 1
            self._spawn(self.close(wait=False, reason=self.server.reason.SERVER_DISCONNECT))

    # ------------------------------------------------------------------ long-polling

    async def handle_get_request(self, environ: dict[str, Any]) -> Any:
        connections = [s.strip() for s in environ.get("HTTP_CONNECTION", "").lower().split(",")]
        transport = environ.get("HTTP_UPGRADE", "").lower()
        if "upgrade" in connections and transport in self.upgrade_protocols:
            return await self._upgrade_websocket(environ)
        if self.upgrading or self.upgraded:
            return [packet.Packet(packet.NOOP)]
        if self._polling:  # the library answers 400 and closes the session
            raise exceptions.EngineIOError("overlap from client")
        self._polling = True
        try:
            return await self.poll()
        finally:
            self._polling = False

    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        if self._posting:
            raise exceptions.EngineIOError("data request overlap from client")
        limit = self.server.max_http_buffer_size
        try:
            declared = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise exceptions.EngineIOError("invalid Content-Length") from None
        if declared > limit:
            await refuse_too_large(self.server, environ, self)
            return
        self._posting = True
        try:
            await self._handle_post(environ, limit)
        except exceptions.EngineIOError:
            # The library answers 400 and closes the session, but only one it still finds.
            if self.server.sockets.get(self.sid) is self:
                raise
        finally:
            self._posting = False

    async def _handle_post(self, environ: dict[str, Any], limit: int) -> None:
        body = await _read_body(environ, limit)
        if body is None:
            await refuse_too_large(self.server, environ, self)
            return
        try:
            packets = payload.Payload(encoded_payload=body.decode("utf-8")).packets
        except ValueError:
            raise exceptions.EngineIOError("invalid payload") from None
        for pkt in packets:
            if not self.live:
                return
            await self.receive(pkt)

    # ------------------------------------------------------------------ WebSocket

    async def _upgrade_websocket(self, environ: dict[str, Any]) -> Any:
        if self.upgraded or self._ws is not None or self.closing or self.closed:
            return self.server._bad_request("Socket has been upgraded already")
        if self.server.transport_impl == "stock":
            transport = getattr(getattr(environ["asgi.send"], "__self__", None), "transport", None)
            self._abort_stock = getattr(transport, "abort", None)
            return await super()._upgrade_websocket(environ)
        return await engine_reading.serve(self, environ)

    def attach(self, ws: WebSocketSender) -> bool:
        if self._ws is not None or self.closing or self.closed:
            return False
        self._ws = ws
        return True

    def detach(self, ws: WebSocketSender) -> None:
        """A WebSocket that did not take over (a failed upgrade) is closed."""
        if self._ws is ws:
            self._ws = None
        ws.close(linger=self.server.ping_timeout)

    def carry(self, ws: WebSocketSender) -> bool:
        """The WebSocket takes the session over: the queued packets go first, in order. No
        await in here, so nothing can be sent in between."""
        if self.closing or self.closed or self._failed:
            return False
        for pkt in self._drain_queue():
            if pkt is None:
                continue
            if pkt.packet_type == packet.PING:
                if ws.write_ping():
                    self.heartbeat.delivered()
            elif not ws.write(_wire(pkt)):
                self._overflow(ws.backlog_bytes)
                return False
        self._queued = 0
        self._queue = None  # made for the OPEN packet; the WebSocket carries everything now
        self._sender = ws
        self.upgraded = True
        return True

    # ------------------------------------------------------------------ closing

    async def close(self, wait: bool = True, abort: bool = False, reason: str | None = None
                    ) -> None:
        """Closes the session; never waits for the client, whatever ``wait`` says."""
        if self.closed or self.closing:
            return
        self.closing = True
        self.heartbeat.stop()
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        self.server.session_closing(self)
        try:
            await self.server._trigger_event(
                "disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT,
                run_async=False)
        finally:
            if not abort and not self._failed:
                if self._sender is not None:
                    self._sender.write(packet.Packet(packet.CLOSE).encode(), bounded=False)
                else:
                    self.queue_packet(packet.Packet(packet.CLOSE))
            self.closed = True
            if self._ws is not None:
                self._ws.close(linger=self.server.ping_timeout)
            if self._queue is not None:  # else made with the None in when first asked for
                self._queue.put_nowait(None)  # wakes a waiting poll and the stock writer
            self.server.session_closed(self)


async def refuse_too_large(server: ChatEngineServer, environ: dict[str, Any],
                           sock: ChatEngineSocket | None) -> None:
    """Answers a POST over ``max_http_buffer_size`` with 413 at once (the connection is
    closed after it: the rest of the body is never read) and closes its session."""
    logger.info("%s: refused a POST over %d bytes, closing the session",
                sock.sid if sock else "(no session)", server.max_http_buffer_size)
    server.stats.oversized_packets += 1
    headers = [(b"content-type", b"text/plain"), (b"connection", b"close")]
    headers += [(k.encode(), v.encode()) for k, v in server._cors_headers(environ)]
    send = environ["asgi.send"]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": b"Payload Too Large"})
    environ[ANSWERED] = True
    if sock is not None:
        await sock.close(wait=False, reason=server.reason.TRANSPORT_ERROR)


async def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The POST body, read chunk by chunk; None as soon as it is over ``limit``."""
    event = environ["wsgi.input"].event  # the request's first event, already received
    receive = environ["asgi.receive"]
    chunks: list[bytes] = []
    size = 0
    while True:
        if event.get("type") != "http.request":
            raise exceptions.EngineIOError("data request connection closed prematurely")
        chunk = event.get("body") or b""
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not event.get("more_body"):
            return b"".join(chunks)
        event = await receive()
