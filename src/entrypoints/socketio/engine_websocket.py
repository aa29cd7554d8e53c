"""The lean WebSocket transport of the Engine.IO layer, its sending half: no task, future or
timer per message.

 ``WebSocketSender.write`` is synchronous (the heartbeat timer calls it too). While
the socket has no backlog it *tries* the ASGI send: it creates the ``websocket.send``
coroutine and steps it by hand (``coro.send(None)``). Under uvicorn that coroutine first
awaits ``protocol.writable.wait()``, which returns at once while the transport's write
buffer is under its high-water mark, and then writes synchronously: the step raises
``StopIteration`` and the frame is in the transport, no task or future made. Before
stepping, the protocol's ``writable`` event is looked at when the send callable is bound to
an object that has one (uvicorn's protocols): when it is clear the send would suspend, so
the frame goes straight to the backlog. When a step does suspend anyway (another ASGI
server, or a uvicorn that awaits something new), the suspended coroutine and the future it
yielded are handed to a writer task that waits for that future and keeps stepping it, as
asyncio's Task would; every later frame then queues behind it, so order holds. Stepping by
hand runs the first part of the send in the caller's task and context (as ``await`` would);
only a send resumed by the writer finishes in the writer task's context, so a send
implementation that keyed state on ``current_task()`` or on context variables across its
suspension would misbehave: uvicorn's does neither.

The backlog is bounded per socket in bytes (text counts its characters), plus
``ENTRY_OVERHEAD`` per frame so that a flood of tiny frames is bounded too; one frame larger
than the bound is still accepted into an empty backlog. ``write`` returns False past the
bound and the session is then failed: ``abort`` drops the backlog and aborts the TCP
transport when the protocol exposes one (uvicorn: ``protocol.transport.abort()``), because
an ASGI ``websocket.close`` waits for the same writability that a stalled reader never
gives back. The writer task exists only while there is a backlog.

Reading: ``engine_reading``.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from chat_server.entrypoints.socketio.engine_frames import direct_text_writer, uncork

logger = logging.getLogger("chat_server.engine")

Message = dict[str, Any]
AsgiSend = Callable[[Message], Coroutine[Any, Any, None]]
ENTRY_OVERHEAD = 128  # bytes charged per queued frame for its bookkeeping (dict, tuple, slot)
_PING = "2"
# Strong references to writer tasks: the event loop keeps only weak ones.
_writers: set[asyncio.Task[None]] = set()


class WebSocketSender:
    """The sending half of one WebSocket, see the module docstring."""

    __slots__ = ("_abort", "_backlog", "_backlog_bytes", "_direct", "_limit", "_linger",
                 "_on_ping_sent", "_ping", "_send", "_transport", "_writable", "_writer", "closed")

    def __init__(self, send: AsgiSend, limit: int, on_ping_sent: Callable[[], None]) -> None:
        self._send = send
        self._limit = limit
        self._on_ping_sent = on_ping_sent
        protocol = getattr(send, "__self__", None)
        writable = getattr(protocol, "writable", None)
        self._writable = writable if isinstance(writable, asyncio.Event) else None
        transport = getattr(protocol, "transport", None)
        self._transport = transport
        self._abort: Callable[[], None] | None = getattr(transport, "abort", None)
        self._direct = direct_text_writer(protocol)  # engine_frames.py
        # Made when a frame must wait (an empty deque is ~760 bytes per connection).
        self._backlog: collections.deque[tuple[Message, int]] | None = None
        self._backlog_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._ping: Message | None = None  # a PING waiting in the backlog
        self._linger: asyncio.TimerHandle | None = None
        self.closed = False

    @property
    def backlog_bytes(self) -> int:
        return self._backlog_bytes

    def write(self, data: str | bytes, bounded: bool = True) -> bool:
        """Sends or queues one frame; False when it would overflow the backlog (never when
        not ``bounded``: control packets of a few bytes)."""
        if self.closed:
            return True
        ready = self._writer is None and (self._writable is None or self._writable.is_set())
        if ready and self._direct is not None and isinstance(data, str) and self._direct(data):
            return True
        message: Message = ({"type": "websocket.send", "text": data} if isinstance(data, str)
                            else {"type": "websocket.send", "bytes": data})
        if ready:
            self._step(message)
            return True
        size = len(data) + ENTRY_OVERHEAD
        if bounded and self._backlog_bytes and self._backlog_bytes + size > self._limit:
            return False
        self._queue(message, size)
        return True

    def write_ping(self) -> bool:
        """Sends a PING; True if it reached the transport now, else ``on_ping_sent`` is
        called once it does. A PING is never refused for the bound (it is one byte)."""
        if self.closed:
            return False
        message: Message = {"type": "websocket.send", "text": _PING}
        if self._writer is None and (self._writable is None or self._writable.is_set()):
            if self._step(message):
                return True
        else:
            self._queue(message, 1 + ENTRY_OVERHEAD)
        self._ping = message
        return False

    def close(self, code: int = 1000, linger: float | None = None) -> None:
        """Closes after the backlog; if it has not drained within ``linger`` seconds (a
        reader that stopped reading), aborts instead."""
        if self.closed:
            return
        self.closed = True
        message: Message = {"type": "websocket.close", "code": code}
        if self._writer is None and (self._writable is None or self._writable.is_set()):
            self._step(message)
        else:
            self._queue(message, 0)
        if self._writer is not None and linger is not None:
            self._linger = asyncio.get_running_loop().call_later(linger, self.abort)

    def abort(self) -> None:
        """Drops the backlog and cuts the connection without waiting for the peer."""
        self.closed = True
        self._backlog = None
        self._backlog_bytes = 0
        self._ping = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        if self._abort is not None:
            self._abort()
        else:  # no transport to abort: the best an ASGI app can do
            self._step({"type": "websocket.close", "code": 1011})

    def _step(self, message: Message) -> bool:
        """Runs the ASGI send as far as it goes without suspending; True if it finished."""
        if self._transport is not None:
            uncork(self._transport)  # frames held for this connection go first
        coro = self._send(message)
        try:
            yielded = coro.send(None)
        except StopIteration:
            return True
        except Exception as exc:  # the peer is gone; the reader sees the disconnect
            self._broken(exc)
            return False
        self._start_writer(run_to_end(coro, yielded), message)
        return False

    def _queue(self, message: Message, size: int) -> None:
        if self._backlog is None:
            self._backlog = collections.deque()
        self._backlog.append((message, size))
        self._backlog_bytes += size
        if self._writer is None:
            self._start_writer(None, None)

    def _start_writer(self, first: Coroutine[Any, Any, None] | None, message: Message | None
                      ) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(first, message))
        self._writer = task
        _writers.add(task)
        task.add_done_callback(_writers.discard)

    async def _drain(self, first: Coroutine[Any, Any, None] | None, message: Message | None
                     ) -> None:
        me = asyncio.current_task()
        try:
            if first is not None:
                await first
                self._sent(message)
            while (backlog := self._backlog):
                message, size = backlog.popleft()
                self._backlog_bytes -= size
                await self._send(message)
                self._sent(message)
        except Exception as exc:
            self._broken(exc)
        finally:
            if self._writer is me:
                self._writer = None
            if not self._backlog:
                self._backlog = None  # drained: no deque kept for a reader that keeps up
                if self._linger is not None:
                    self._linger.cancel()
                    self._linger = None

    def _sent(self, message: Message | None) -> None:
        if message is not None and message is self._ping:
            self._ping = None
            self._on_ping_sent()

    def _broken(self, exc: Exception) -> None:
        logger.debug("websocket send failed: %r", exc)
        self.closed = True
        self._backlog = None
        self._backlog_bytes = 0


async def run_to_end(coro: Coroutine[Any, Any, None], yielded: Any,
                  context: contextvars.Context | None = None) -> None:
    """Runs to its end a coroutine that suspended while stepped by hand (an ASGI send, a
    frame's handler): waits for the future it yielded, then resumes it, until it returns
    (what asyncio's Task does), each step in ``context`` when given."""
    def step(value: None) -> Any:
        return coro.send(value) if context is None else context.run(coro.send, value)

    try:
        while True:
            if yielded is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            elif asyncio.isfuture(yielded):
                yielded._asyncio_future_blocking = False
                if not yielded.done():
                    try:
                        await yielded  # what the coroutine awaits reads the outcome itself
                    except BaseException:
                        if not yielded.done():  # this task was cancelled, not the future
                            raise
            else:
                raise RuntimeError(f"a stepped coroutine yielded {yielded!r}, not a future")
            yielded = step(None)
    except StopIteration:
        return
    finally:
        coro.close()
