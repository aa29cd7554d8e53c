"""Binds the connection lifecycle and the dispatch path to a ChatSocketServer's two
namespaces: ``Gateway(...).bind()`` registers every handler, once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chat_server.entrypoints.socketio.confirmations import DeliveryConfirmations
from chat_server.entrypoints.socketio.draining import SessionDrain
from chat_server.entrypoints.socketio.lifecycle import Lifecycle
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE
from chat_server.entrypoints.socketio.server import ChatSocketServer, EventSink


class Gateway:
    def __init__(self, sio: ChatSocketServer, lifecycle: Lifecycle,
                 drain: SessionDrain | None = None,
                 confirmations: DeliveryConfirmations | None = None) -> None:
        self._sio = sio
        self.lifecycle = lifecycle
        self._drain = drain
        self.confirmations = confirmations
        self._bound = False

    def bind(self) -> None:
        if self._bound:
            return
        for namespace in (PRESENCE, CHAT):
            self._sio.on("connect", self._connect_handler(namespace), namespace=namespace)
            self._sio.on("disconnect", self._disconnect_handler(namespace), namespace=namespace)
        on_event: EventSink = self.lifecycle.on_event
        if self._drain is not None:  # counts the events in flight, for SIGTERM
            on_event = self._drain.track(on_event)
        self._sio.route(on_event, self.lifecycle.after_connect)
        confirm_with = getattr(self._sio.manager, "confirm_with", None)
        if self.confirmations is not None and confirm_with is not None:
            confirm_with(self.confirmations.add)
        self._bound = True

    def _connect_handler(self, namespace: str) -> Callable[..., Awaitable[None]]:
        async def connect(sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
            await self.lifecycle.connect(namespace, sid, environ, auth)

        return connect

    def _disconnect_handler(self, namespace: str) -> Callable[..., Awaitable[None]]:
        async def disconnect(sid: str, reason: Any = None) -> None:
            await self.lifecycle.disconnect(namespace, sid)

        return disconnect
