"""Connections from CONNECT to disconnect: authentication, the /chat presence gate and
session, token expiry, and undoing what was set up (see ``ConnState``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import socketio

from chat_server.application.bus import EventPublisher
from chat_server.application.ports import Channel, PresenceRegistry, RateKind, RateLimiter
from chat_server.domain.errors import StorageUnavailable, UserNotOnline
from chat_server.domain.model import UserRef
from chat_server.entrypoints.auth import TokenRejected, TokenVerifier, find_token
from chat_server.entrypoints.socketio import wire
from chat_server.entrypoints.socketio.connection import Connection, ConnState
from chat_server.entrypoints.socketio.dispatch import Dispatcher, RateLimited
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE
from chat_server.entrypoints.socketio.presence_settling import OfflineSettler
from chat_server.entrypoints.socketio.routes import UseCases, user_chats_envelope
from chat_server.entrypoints.socketio.server import ChatSocketServer

logger = logging.getLogger("chat_server.gateway")

# Events a /chat socket sends before its session is open wait in a bounded queue.
BACKLOG_LIMIT = 64
# How long a disconnect waits for its connection's set-up step to finish.
SETUP_WAIT_S = 10.0


def _refused(status: int, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A refused CONNECT: ``connect_error`` whose data is the envelope."""
    return socketio.exceptions.ConnectionRefusedError(
        message, {"error": True, "statusCode": status, "message": message})


class Lifecycle:
    def __init__(
        self, sio: ChatSocketServer, verifier: TokenVerifier, use_cases: UseCases,
        dispatcher: Dispatcher, publisher: EventPublisher, limiter: RateLimiter,
        presence: PresenceRegistry, settler: OfflineSettler, max_sockets_per_user: int,
    ) -> None:
        self._sio = sio
        self._verifier = verifier
        self._uc = use_cases
        self._dispatcher = dispatcher
        self._publisher = publisher
        self._limiter = limiter
        self._presence = presence
        self._settler = settler
        self._max_sockets = max_sockets_per_user
        self.connections: dict[str, Connection] = {}
        # This node's connections per user and namespace, counted from the CONNECT on (the
        # registry counts them once their session started, on every node).
        self._per_user: Counter[tuple[UserRef, str]] = Counter()

    # --- connecting ----------------------------------------------------------------------

    async def connect(self, namespace: str, sid: str, environ: Mapping[str, Any], auth: Any
                      ) -> None:
        """The CONNECT of a namespace: accepted once the token is valid (else a
        ``connect_error`` carrying the 401 envelope)."""
        try:
            identity = self._verifier.verify(find_token(auth, environ))
        except TokenRejected as exc:
            raise _refused(401, str(exc)) from None
        user = identity.user
        # A CONNECT costs a request, and reconnecting in a loop is bounded on its own.
        if await self._limiter.acquire_each(user, (RateKind.REQUEST, RateKind.CONNECT)) is not None:
            raise _refused(429, "Too many requests")
        channel = Channel.PRESENCE if namespace == PRESENCE else Channel.CHAT
        held = max(self._per_user[(user, namespace)], await self._presence.count(user, channel))
        if held >= self._max_sockets:
            # The newest is refused: the devices already connected keep working.
            raise _refused(429, "Too many connections")
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, namespace)
        conn = Connection(sid, eio_sid, user, namespace, identity.expires_at)
        self.connections[sid] = conn
        self._per_user[(user, namespace)] += 1
        if namespace == PRESENCE:
            await self._sio.enter_room(sid, wire.room(identity.user), namespace=namespace)
        # /chat joins its room once the presence check passed (see _open_chat).

    async def after_connect(self, namespace: str, sid: str) -> None:
        """Runs once the CONNECT packet is sent, so that what it emits follows it."""
        conn = self.connections.get(sid)
        if conn is None:
            return
        self._arm_expiry(conn)
        if namespace == PRESENCE:
            conn.state = ConnState.STARTING
            try:
                await self._sio.emit("userIsOnline", wire.user_online(conn.user), to=sid,
                                     namespace=PRESENCE)
                outcome = await self._uc.presence.connect(conn.user, sid)
                await self._publisher.publish(outcome.events)
            except Exception:
                logger.exception("presence connect of %s failed", conn.user)
            finally:
                conn.settled.set()
            if not conn.closed:
                conn.state = ConnState.OPEN
        else:
            # Waiting for presence inline would hold back this client's other packets,
            # among them possibly the /presence CONNECT it waits for.
            conn.state = ConnState.AWAITING_PRESENCE
            conn.setup = asyncio.create_task(self._open_chat(conn), name=f"open-chat-{sid}")

    async def _open_chat(self, conn: Connection) -> None:
        try:
            try:
                await self._uc.sessions.await_presence(conn.user)
            except UserNotOnline as exc:
                await self._dispatcher.emit_error(conn, "connect", exc)
                await self._sio.disconnect(conn.sid, namespace=CHAT)
                return
            if conn.closed:
                return
            conn.state = ConnState.STARTING
            # In the room before the connection counts as online: a message stored from
            # then on is emitted to it or left undelivered for offlineMessages, never lost.
            await self._sio.enter_room(conn.sid, wire.room(conn.user), namespace=CHAT)
            session = await self._uc.sessions.open(conn.caller)
            await self._sio.emit(
                "offlineMessages",
                wire.envelope("Offline messages has been sent successfully",
                              [wire.message_json(m, conn.user)
                               for m in session.offline_messages],
                              hasMore=session.more_offline),
                to=conn.sid, namespace=CHAT,
            )
            await self._sio.emit("userChats", user_chats_envelope(session.chats, conn.user),
                                 to=conn.sid, namespace=CHAT)
        except Exception as exc:
            if not isinstance(exc, StorageUnavailable):
                logger.exception("opening the /chat session of %s failed", conn.user)
            await self._dispatcher.emit_error(conn, "connect", exc)
            await self._sio.disconnect(conn.sid, namespace=CHAT)
            return
        finally:
            conn.settled.set()
        # Events that arrive while the backlog drains queue behind it (the state is still
        # STARTING), so order holds; the connection is OPEN once the backlog is empty.
        while not conn.closed and (deferred := conn.next_deferred()) is not None:
            ack_id, name, args = deferred
            await self._dispatcher.handle(conn, ack_id, name, args)
        if not conn.closed:
            conn.state = ConnState.OPEN

    def _arm_expiry(self, conn: Connection) -> None:
        delay = conn.expires_at - time.time()
        loop = asyncio.get_running_loop()
        conn.expiry = loop.call_later(max(delay, 0.0), self._expire, conn)

    def _expire(self, conn: Connection) -> None:
        if not conn.closed:
            conn.closing = asyncio.create_task(self._close_expired(conn),
                                               name=f"expire-{conn.sid}")

    async def _close_expired(self, conn: Connection) -> None:
        await self._sio.emit(
            "appError", wire.error_envelope(401, "Token expired", "connect"), to=conn.sid,
            namespace=conn.namespace,
        )
        await self._sio.disconnect(conn.sid, namespace=conn.namespace)

    # --- events --------------------------------------------------------------------------

    async def on_event(
        self, namespace: str, sid: str, eio_sid: str, ack_id: int | None, name: str,
        args: list[Any],
    ) -> None:
        conn = self.connections.get(sid)
        if conn is None or conn.closed:
            return
        if conn.state is not ConnState.OPEN:
            if not conn.defer((ack_id, name, args), BACKLOG_LIMIT):
                await self._dispatcher.answer_error(conn, ack_id, name, RateLimited())
            return
        await self._dispatcher.handle(conn, ack_id, name, args)

    # --- disconnecting -------------------------------------------------------------------

    async def disconnect(self, namespace: str, sid: str) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        key = (conn.user, namespace)
        self._per_user[key] -= 1
        if self._per_user[key] <= 0:
            del self._per_user[key]
        started = conn.started
        conn.state = ConnState.CLOSED
        if conn.expiry is not None:
            conn.expiry.cancel()
        setup = conn.setup
        if setup is not None and setup is asyncio.current_task():  # None: outside a task
            pass  # the set-up step itself closes the connection (presence check failed)
        elif not started and setup is not None and not setup.done():
            setup.cancel()  # still waiting for presence: nothing to undo
        elif started:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.settled.wait(), SETUP_WAIT_S)
        if not started:
            return
        try:
            if namespace == PRESENCE:
                went = (await self._uc.presence.disconnect(conn.user, sid)).result
                if went is not None:
                    self._settler.schedule(went)
            else:
                await self._uc.sessions.close(conn.caller)
        except Exception:
            logger.exception("disconnect of %s from %s failed", conn.user, namespace)
