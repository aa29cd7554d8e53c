"""Client managers: who is in which room, and how an emit reaches them.

``DirectEmitManager`` sends an event to its recipients one after the other: the library's
manager creates one task per recipient and waits for them all, which costs more than the
sends themselves. The packet is encoded once (``encoding.py``).

``CrossNodeManager`` (several nodes, the default with Redis) delivers to this node's
sockets first, then hands the encoded packet with the users it is for to ``NodeFanout``
(``adapters/redis/fanout.py``), which publishes it, batched per event-loop round, only to
the nodes holding one of those users' sockets; a node delivers what it receives to its own
sockets of those rooms. Rooms other than user rooms (``wire.room``: a socket's own sid) are
this node's alone: the service emits to a sid only for the socket it is handling, and
disconnects only its own sockets (``AsyncServer.disconnect`` of a sid this node does not
hold does nothing); it uses no cross-node acks or callbacks.

An emit may carry confirmations: ``(room, message id)`` of a message that awaits delivery to
that room's user. Whichever node writes the emit to at least one socket of that room hands
the pair to ``confirm_with``'s sink (``confirmations.py``), so that a message delivered
through another node is not offered again at the recipient's next connect.

``ChatRedisManager`` is python-socketio's Redis manager (every emit broadcast to every
node), kept as ``CHAT_CROSS_NODE=broadcast`` for comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import socketio
from engineio import packet as eio_packet
from socketio import packet

from chat_server.adapters.redis import OutageLog
from chat_server.adapters.redis.fanout import NodeFanout, Target
from chat_server.application.ports import Channel
from chat_server.entrypoints.socketio import wire
from chat_server.entrypoints.socketio.encoding import EncodedBodies, event_packet

logger = logging.getLogger("chat_server.socketio")

Confirm = Sequence[tuple[str, str]]  # (room, message id)
ConfirmSink = Callable[[str, str], None]
CHANNELS = {"/chat": Channel.CHAT, "/presence": Channel.PRESENCE}


class DirectEmitManager(socketio.AsyncManager):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._bodies = EncodedBodies()
        self._confirm: ConfirmSink | None = None

    @property
    def bodies(self) -> EncodedBodies:
        """Shared with the server's acks: a send's ack reuses its emit's encoding."""
        return self._bodies

    def confirm_with(self, sink: ConfirmSink) -> None:
        self._confirm = sink

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   confirm: Confirm | None = None, **kwargs: Any) -> None:
        if callback is not None:  # per-recipient ack ids: the library's way
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, to=to, **kwargs)
            return
        rooms = to or room
        text = self._encode(event, data, namespace)
        if text is None:  # binary payloads: the library's encoder, this node only
            await self._deliver_library(event, data, namespace, rooms, skip_sid)
            return
        await self.deliver(namespace, rooms, skip_sid, text, confirm)
        await self._forward(namespace, rooms, text, confirm)

    async def _forward(self, namespace: str, rooms: Any, text: str, confirm: Confirm | None
                       ) -> None:
        """What other nodes need of an emit: nothing here (one node)."""

    def _encode(self, event: str, data: Any, namespace: str) -> str | None:
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        try:
            return event_packet(namespace, event, [self._bodies.text(a) for a in args])
        except TypeError:
            return None

    async def deliver(self, namespace: str, rooms: Any, skip_sid: Any, text: str,
                      confirm: Confirm | None) -> int:
        """Writes an encoded packet to this node's sockets in ``rooms``; returns how many.
        Confirms the ``confirm`` pairs whose room had a socket written to."""
        if namespace not in self.rooms:
            return 0
        skip = skip_sid if isinstance(skip_sid, list) else (skip_sid,)
        part = eio_packet.Packet(eio_packet.MESSAGE, text)
        targets = self._targets(namespace, rooms, skip)
        send_now = getattr(self.server.eio, "send_now", None)  # ChatEngineServer's
        written: set[str] = set()
        for sid, eio_sid in targets:
            try:
                if send_now is not None:
                    sent = send_now(eio_sid, part)
                else:
                    await self.server._send_eio_packet(eio_sid, part)
                    sent = True
            except Exception:  # one broken socket must not stop the others' delivery
                logger.exception("emitting to %s failed", eio_sid)
                continue
            if confirm and sent and self._open(sid, eio_sid, namespace):
                written.add(sid)
        if confirm and written and self._confirm is not None:
            ns = self.rooms[namespace]
            for room, message_id in confirm:
                members = ns.get(room)
                if members is not None and not written.isdisjoint(members._fwdm):
                    self._confirm(room, message_id)
        return len(targets)

    def _targets(self, namespace: str, rooms: Any, skip: Any) -> list[tuple[str, str]]:
        """``get_participants`` without its copy of every room: each socket once, in room
        order. Collected first: a disconnect during the sends must not change the rooms
        being walked."""
        ns = self.rooms[namespace]
        names = (rooms,) if rooms is None or isinstance(rooms, str) else rooms
        targets: list[tuple[str, str]] = []
        seen: set[str] | None = set() if len(names) > 1 else None
        for name in names:
            members = ns.get(name)
            if members is None:
                continue
            for sid, eio_sid in members._fwdm.items():
                if sid in skip or (seen is not None and sid in seen):
                    continue
                if seen is not None:
                    seen.add(sid)
                targets.append((sid, eio_sid))
        return targets

    def _open(self, sid: str, eio_sid: str, namespace: str) -> bool:
        """Whether a write to this socket is a delivery: it is neither disconnecting (its
        sid stays in its rooms while the disconnect handlers run) nor closing."""
        if not self.is_connected(sid, namespace):
            return False
        sock = self.server.eio.sockets.get(eio_sid)
        return sock is not None and not (sock.closing or sock.closed)

    async def _deliver_library(self, event: str, data: Any, namespace: str, rooms: Any,
                               skip_sid: Any) -> None:
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace,
                                           data=[event, *args]).encode()
        parts = [eio_packet.Packet(eio_packet.MESSAGE, p)
                 for p in (encoded if isinstance(encoded, list) else [encoded])]
        targets = [eio_sid for sid, eio_sid in self.get_participants(namespace, rooms)
                   if sid not in skip]
        for eio_sid in targets:
            for part in parts:
                try:
                    await self.server._send_eio_packet(eio_sid, part)
                except Exception:
                    logger.exception("emitting %r to %s failed", event, eio_sid)


def user_targets(namespace: str, rooms: Any) -> list[Target]:
    """The users (with the channel of ``namespace``) among the rooms of an emit."""
    channel = CHANNELS.get(namespace)
    if channel is None or rooms is None:
        return []
    found = []
    for room in (rooms,) if isinstance(rooms, str) else rooms:
        user = wire.user_of_room(room)
        if user is not None:
            found.append((user, channel))
    return found


class CrossNodeManager(DirectEmitManager):
    """Delivers locally, then publishes to the nodes that hold the emit's users (see the
    module docstring). ``receive`` is the fanout's ``on_bundle``."""

    def __init__(self, fanout: NodeFanout) -> None:
        super().__init__()
        self.fanout = fanout

    @property
    def publish_errors(self) -> int:
        """Payloads for other nodes dropped (Redis away, or the buffer full): the metrics'
        ``chat_redis_publish_errors_total``, as with the broadcast manager."""
        return self.fanout.dropped

    async def _forward(self, namespace: str, rooms: Any, text: str, confirm: Confirm | None
                       ) -> None:
        targets = user_targets(namespace, rooms)
        if not targets:
            return
        rooms_out = [rooms] if isinstance(rooms, str) else list(rooms)
        item: list[Any] = [namespace, text, rooms_out]
        if confirm:
            item.append(confirm)
        self.fanout.publish(orjson.dumps(item), targets)

    async def receive(self, bundle: bytes) -> None:
        """A bundle from another node: each item written to this node's sockets."""
        items = orjson.loads(bundle)
        if not isinstance(items, list):
            return
        for item in items:
            try:
                namespace, text, rooms = item[0], item[1], item[2]
                confirm = [(c[0], c[1]) for c in item[3]] if len(item) > 3 else None
            except (TypeError, IndexError, KeyError):
                logger.warning("dropped a malformed cross-node item")
                continue
            await self.deliver(namespace, rooms, None, text, confirm)


class ChatRedisManager(socketio.AsyncRedisManager, DirectEmitManager):  # type: ignore[misc]
    def __init__(self, url: str) -> None:
        socketio.AsyncRedisManager.__init__(
            self, url, channel="chat-server",
            redis_options={"socket_timeout": 1.0, "socket_connect_timeout": 1.0,
                           "health_check_interval": 15},
        )
        self._outage = OutageLog(logger, "cross-node delivery")
        self.publish_errors = 0  # since start (read by the metrics)

    async def emit(self, event: str, data: Any, namespace: str | None = None, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   confirm: Confirm | None = None, **kwargs: Any) -> None:
        # Broadcast carries no confirmations: those messages stay offered at the next connect.
        await socketio.AsyncRedisManager.emit(
            self, event, data, namespace=namespace, room=room, skip_sid=skip_sid,
            callback=callback, to=to, **kwargs)

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
