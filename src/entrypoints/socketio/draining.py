"""Draining a node (SIGTERM): its clients reconnect elsewhere and lose no answer.

``SessionDrain.track`` wraps the entrypoint's event sink and counts, per Engine.IO session,
the client events being handled. ``drain(deadline)``:

1. refuses new Engine.IO handshakes (503) and turns readiness off (``ready()``);
2. closes every session that handles no event now, and every other one as soon as its
   event is answered (the ack is written before the close), so an event is either handled
   to its end and answered, or never started: what a session receives after its drain
   began is not handled, and the client, having no answer, sends it again after it
   reconnected (with the same ``clientMessageId`` a send is stored once);
3. at the deadline, closes what is left, answered or not.

A session is closed without Engine.IO's CLOSE packet, as a network cut would: clients
(socket.io-client, python-socketio) reconnect after a transport close, whereas a CLOSE
packet tells python-socketio not to. Closing runs the disconnect handlers as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

from chat_server.entrypoints.socketio.engine import ChatEngineServer
from chat_server.entrypoints.socketio.server import ChatSocketServer, EventSink

logger = logging.getLogger("chat_server.drain")

# At the deadline, the closes forced then get this long to run their disconnect handlers.
LAST_CLOSE_S = 0.5


class SessionDrain:
    def __init__(self) -> None:
        self._engine: ChatEngineServer | None = None
        self.draining = False
        self._busy: Counter[str] = Counter()  # Engine.IO sid -> events being handled
        self._closing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()  # a close ended, or a busy session became idle

    async def ready(self) -> bool:
        """The ``HealthProbe`` of readiness: not ready once draining."""
        return not self.draining

    def track(self, sink: EventSink) -> EventSink:
        busy = self._busy

        async def tracked(namespace: str, sid: str, eio_sid: str, ack_id: int | None,
                          name: str, args: list[Any]) -> None:
            if eio_sid in self._closing:
                return  # arrived after the session's drain began: not started, not answered
            busy[eio_sid] += 1
            try:
                await sink(namespace, sid, eio_sid, ack_id, name, args)
            finally:
                left = busy[eio_sid] - 1
                if left > 0:
                    busy[eio_sid] = left
                else:
                    del busy[eio_sid]
                    if self.draining:
                        self._close(eio_sid)
                        self._changed.set()

        return tracked

    async def drain(self, sio: ChatSocketServer, deadline: float) -> None:
        """Returns once every session of ``sio`` is closed, or at ``deadline``
        (``loop.time()``)."""
        loop = asyncio.get_running_loop()
        engine = self._engine = sio.eio
        self.draining = True
        engine.draining = True
        sessions = list(engine.sockets)
        logger.info("draining: closing %d Engine.IO session(s), %d of them once their "
                    "event is answered", len(sessions), sum(1 for s in sessions if s in self._busy))
        for eio_sid in sessions:
            if eio_sid not in self._busy:
                self._close(eio_sid)
        # Every session has a close under way, or is busy and gets one when its event ends.
        while (self._busy or self._tasks) and loop.time() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
        if engine.sockets:
            logger.warning("draining: %d session(s) still open at the deadline "
                           "(CHAT_DRAIN_S), closing them", len(engine.sockets))
            for eio_sid in list(engine.sockets):
                self._close(eio_sid, force=True)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(deadline - loop.time(), LAST_CLOSE_S))

    def _close(self, eio_sid: str, force: bool = False) -> None:
        if eio_sid in self._closing and not force:
            return
        self._closing.add(eio_sid)
        engine = self._engine
        assert engine is not None
        sock = engine.sockets.get(eio_sid)
        if sock is None or sock.closing or sock.closed:
            return
        task = asyncio.get_running_loop().create_task(
            sock.close(wait=False, abort=True, reason=engine.reason.SERVER_DISCONNECT))
        self._tasks.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._changed.set()
