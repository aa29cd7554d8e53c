"""uvicorn, as ``chat-server`` runs it: listening sockets bound before anything starts, a
"serving" line only once they listen, and SIGTERM as a drain rather than a cut.

``bind_listeners`` binds (without listening) so that a port in use is known at once, before
storage is waited for; uvicorn listens on them once the application started.

``ChatServer.handle_exit`` (uvicorn's signal handler) starts ``drain``: stop accepting
connections, ``ChatApp.drain`` (sessions closed once their events are answered, within
``CHAT_DRAIN_S``), then uvicorn's own shutdown with what is left of the bound. A second
signal stops the waiting. uvicorn would raise the signal again after its shutdown, making
the exit status 143; a drained node exits 0.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from chat_server.entrypoints.app import ChatApp
from chat_server.entrypoints.socketio.engine_frames import DirectReadProtocol

logger = logging.getLogger("chat_server")

# What uvicorn's own shutdown gets at least, after the drain (idle keep-alive connections).
MIN_SHUTDOWN_S = 0.5


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` (as asyncio would bind them); raises
    ``OSError`` (``EADDRINUSE`` ...) with nothing left open."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL:  # else: that family is not enabled
                    raise
                bound.pop().close()
        if not bound:
            raise OSError(errno.EADDRNOTAVAIL, "no address of this host can be bound")
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


class ChatServer(uvicorn.Server):  # type: ignore[misc]
    def __init__(self, config: uvicorn.Config, app: ChatApp, drain_s: float,
                 on_serving: Callable[[], None]) -> None:
        super().__init__(config)
        self._app = app
        self._drain_s = drain_s
        self._on_serving = on_serving
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:  # listening now
            self._on_serving()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGINT / SIGTERM. Runs as a signal handler: it only schedules."""
        loop = self._loop
        if loop is None or not self.started:
            self.should_exit = True
        elif self._draining is None:
            loop.call_soon_threadsafe(self._start_drain)
        else:  # a second signal: stop waiting
            self.force_exit = self.should_exit = True

    def _start_drain(self) -> None:
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self.drain())

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_s
        logger.info("draining (CHAT_DRAIN_S=%g): no new connections; open sessions close "
                    "once their events are answered", self._drain_s)
        for server in getattr(self, "servers", ()):
            server.close()  # stop accepting; the connections made stay
        try:
            await self._app.drain(deadline)
        except Exception:
            logger.exception("draining failed; shutting down")
        finally:
            # Typed int by uvicorn, which hands it to asyncio.wait_for (a float is fine).
            self.config.timeout_graceful_shutdown = max(  # type: ignore[assignment]
                deadline - loop.time(), MIN_SHUTDOWN_S)
            self.should_exit = True


# Full collections wait for this many younger ones (CPython's default: 10, that is every
# 70,000 tracked allocations once the heap grew by a quarter).
FULL_GC_AFTER = 1000


def tune_gc() -> None:
    """Once started: what start-up made (modules, the container: about 100,000 objects)
    leaves the collector's generations for good, and full collections are rarer. A heap that
    keeps growing (in-memory storage holding every message) made CPython scan it whole
    every time it grew by a quarter: 3.4 % of the CPU in scenario 1 (performance.md).
    A full collection still runs every 7 million tracked allocations at most, and young
    collections as before, so cyclic garbage is still reclaimed."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_AFTER)


def websocket_protocol(transport_impl: str) -> type[asyncio.Protocol] | str:
    """uvicorn's ``ws`` option: the lean transport reads text frames straight from uvicorn's
    sans-I/O protocol (``engine_frames.DirectReadProtocol``); the stock one takes uvicorn's
    own choice."""
    return DirectReadProtocol if transport_impl == "lean" else "auto"


def server_config(**options: Any) -> uvicorn.Config:
    """uvicorn's configuration without uvicorn's logging set-up (``configure_logging``
    did it) and without its access log (it prints query strings)."""
    return uvicorn.Config(log_config=None, access_log=False, **options)
