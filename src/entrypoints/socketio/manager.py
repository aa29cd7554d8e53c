"""Client managers: who is in which room, and how an emit reaches them.

``DirectEmitManager`` sends an event to its recipients one after the other: the library's
manager creates one task per recipient and waits for them all, which costs more than the
sends themselves (each is a put on the socket's queue). The packet is encoded once.

``ChatRedisManager`` is python-socketio's Redis manager, carrying emits between nodes. It
delivers to this node's sockets first and then publishes for the others, so a node keeps
serving its own connections while Redis is away. The library logs every failed publish; here
an outage is logged once, and publishing never waits on a dead Redis for long.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from chat_server.adapters.redis import OutageLog

logger = logging.getLogger("chat_server.socketio")


class DirectEmitManager(socketio.AsyncManager):  # type: ignore[misc]
    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        if callback is not None:  # per-recipient ack ids: the library's way
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, to=to, **kwargs)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace,
                                           data=[event, *args]).encode()
        parts = [eio_packet.Packet(eio_packet.MESSAGE, p)
                 for p in (encoded if isinstance(encoded, list) else [encoded])]
        # Collected first: a disconnect during the sends must not change the rooms we walk.
        targets = [eio_sid for sid, eio_sid in self.get_participants(namespace, room)
                   if sid not in skip]
        for eio_sid in targets:
            for part in parts:
                try:
                    await self.server._send_eio_packet(eio_sid, part)
                except Exception:  # one broken socket must not stop the others' delivery
                    logger.exception("emitting %r to %s failed", event, eio_sid)


class ChatRedisManager(socketio.AsyncRedisManager, DirectEmitManager):  # type: ignore[misc]
    def __init__(self, url: str) -> None:
        super().__init__(
            url, channel="chat-server",
            redis_options={"socket_timeout": 1.0, "socket_connect_timeout": 1.0,
                           "health_check_interval": 15},
        )
        self._outage = OutageLog(logger, "cross-node delivery")
        self.publish_errors = 0  # since start (read by the metrics)

    async def _publish(self, data: Any) -> None:
        try:
            if not self.connected:  # type: ignore[has-type]
                self._redis_connect()
            await self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as exc:  # redis' own and OS errors alike mean "not published"
            self.connected = False
            self.publish_errors += 1
            self._outage.failed(exc)
            return
        self._outage.succeeded()
