"""The /presence and /chat namespaces: one dispatch path for every client event.

Each event is: rate limited, looked up (unknown names are a 400), parsed into a command,
run by its use case, and answered. Domain errors become status codes in one table
(``_ERRORS``); anything else is logged once and answered with a 500 without internals.

The socket that asks learns the outcome exactly once (PROTOCOL.md section 4): in its ack
when it gave one (the broadcasts then skip it), otherwise as the broadcast event itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import socketio

from chat_server.application.ports import RateKind, RateLimiter
from chat_server.application.use_cases import (
    Caller,
    ChatPage,
    ChatSessions,
    CheckOnlinePresenceHandler,
    DeleteMessageHandler,
    GetMessagesHandler,
    GetUserChatsHandler,
    JoinChatHandler,
    MarkAsReadHandler,
    PresenceTracker,
    SendMessageHandler,
    SignalTypingHandler,
)
from chat_server.domain.errors import (
    ChatNotFound,
    InvalidInput,
    MessageNotFound,
    NoSharedChat,
    NotAChatParticipant,
    NotTheSender,
    StorageUnavailable,
    UserNotOnline,
)
from chat_server.domain.model import UserRef
from chat_server.entrypoints.auth import TokenRejected, TokenVerifier, find_token
from chat_server.entrypoints.socketio import payloads, wire
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE
from chat_server.entrypoints.socketio.server import ChatSocketServer

logger = logging.getLogger("chat_server.gateway")

# Events a /chat socket sends before its presence check passes wait in a bounded queue.
BACKLOG_LIMIT = 64
RATE_LIMITED_NOTICE_S = 1.0
# How long a disconnect waits for its connection's set-up step to finish.
SETUP_WAIT_S = 10.0


class RateLimited(Exception):
    pass


class UnknownEvent(Exception):
    pass


_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    payloads.PayloadError: (400, "Invalid data provided"),
    InvalidInput: (400, "Invalid data provided"),
    UnknownEvent: (400, "Unknown event"),
    NotAChatParticipant: (403, "You are not a participant of this chat"),
    NotTheSender: (403, "You can only delete your own messages"),
    NoSharedChat: (403, "You do not share a chat with this user"),
    UserNotOnline: (403, "User is not online. Connect to the /presence namespace first"),
    ChatNotFound: (404, "Chat was not found"),
    MessageNotFound: (404, "Message was not found"),
    RateLimited: (429, "Too many requests"),
    StorageUnavailable: (503, "Storage is unavailable, please retry shortly"),
}
INTERNAL_ERROR = (500, "An internal error occurred")


def field_errors(exc: Exception) -> list[dict[str, str]] | None:
    if isinstance(exc, payloads.PayloadError):
        return exc.errors
    if isinstance(exc, InvalidInput):
        return [
            {"field": wire.WIRE_FIELD_NAMES.get(e.field, e.field), "message": e.message}
            for e in exc.errors
        ]
    if isinstance(exc, UnknownEvent):
        return [{"field": "event", "message": f"{str(exc)[:100]!r} is not an event of this namespace"}]
    return None


class Delivery(enum.Enum):
    """How the outcome of an event reaches the socket that sent it."""

    ALWAYS = "always"  # emitted to the caller, and in the ack when it asked for one
    IF_NO_ACK = "if_no_ack"  # in the ack, else emitted to the caller (nothing was broadcast)
    ACK_ONLY = "ack_only"  # in the ack; the broadcast reached the caller when it gave none


@attrs.frozen
class Reply:
    event: str
    body: wire.Envelope
    delivery: Delivery


Route = Callable[[Caller, Any], Awaitable[Reply]]


@attrs.define(eq=False)
class Connection:
    """What the gateway knows about one socket (one namespace of one client)."""

    sid: str
    eio_sid: str  # the Engine.IO session: where acks are sent
    user: UserRef
    namespace: str
    expires_at: float
    settled: asyncio.Event = attrs.field(factory=asyncio.Event)
    # /chat only: events waiting for the presence check, and the task that runs it.
    backlog: deque[tuple[int | None, str, list[Any]]] | None = None
    opening: asyncio.Task[None] | None = None
    # Once sessions.open started, the session is closed on disconnect and not cancelled.
    opened: bool = False
    expiry: asyncio.TimerHandle | None = None
    closing: asyncio.Task[None] | None = None
    last_rate_notice: float = -1e9
    closed: bool = False


@attrs.frozen
class UseCases:
    send_message: SendMessageHandler
    join_chat: JoinChatHandler
    mark_as_read: MarkAsReadHandler
    delete_message: DeleteMessageHandler
    signal_typing: SignalTypingHandler
    get_user_chats: GetUserChatsHandler
    get_messages: GetMessagesHandler
    check_online_presence: CheckOnlinePresenceHandler
    presence: PresenceTracker
    sessions: ChatSessions


class Gateway:
    """Binds the use cases to a ChatSocketServer's two namespaces."""

    def __init__(
        self, sio: ChatSocketServer, verifier: TokenVerifier, use_cases: UseCases,
        limiter: RateLimiter,
    ) -> None:
        self._sio = sio
        self._verifier = verifier
        self._uc = use_cases
        self._limiter = limiter
        self._connections: dict[str, Connection] = {}
        check = self._check_online_presence
        self._routes: dict[str, dict[str, Route]] = {
            PRESENCE: {"checkOnlinePresence": check},
            CHAT: {
                "joinChat": self._join_chat,
                "sendMessage": self._send_message,
                "markAsRead": self._mark_as_read,
                "deleteMessage": self._delete_message,
                "typing": self._typing,
                "stoppedTyping": self._stopped_typing,
                "getUserChats": self._get_user_chats,
                "getMessages": self._get_messages,
                "joinRooms": self._join_rooms,
                "checkOnlinePresence": check,
            },
        }
        for namespace in (PRESENCE, CHAT):
            sio.on("connect", self._connect_handler(namespace), namespace=namespace)
            sio.on("disconnect", self._disconnect_handler(namespace), namespace=namespace)
        sio.route(self.on_event, self.after_connect)

    # --- connecting ----------------------------------------------------------------------

    def _connect_handler(self, namespace: str) -> Callable[..., Awaitable[None]]:
        async def connect(sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
            try:
                identity = self._verifier.verify(find_token(auth, environ))
            except TokenRejected as exc:
                message = str(exc)
                raise socketio.exceptions.ConnectionRefusedError(
                    message, {"error": True, "statusCode": 401, "message": message}
                ) from None
            eio_sid = self._sio.manager.eio_sid_from_sid(sid, namespace)
            conn = Connection(sid, eio_sid, identity.user, namespace, identity.expires_at)
            self._connections[sid] = conn
            if namespace == CHAT:
                # Its room is joined once the presence check passed (see _open_chat).
                conn.backlog = deque()
            else:
                await self._sio.enter_room(sid, wire.room(identity.user), namespace=namespace)

        return connect

    async def after_connect(self, namespace: str, sid: str) -> None:
        """Runs once the CONNECT packet is sent, so that what it emits follows it."""
        conn = self._connections.get(sid)
        if conn is None:
            return
        self._arm_expiry(conn)
        if namespace == PRESENCE:
            try:
                await self._sio.emit("userIsOnline", wire.user_online(conn.user), to=sid,
                                     namespace=PRESENCE)
                await self._uc.presence.connect(conn.user, sid)
            except Exception:
                logger.exception("presence connect of %s failed", conn.user)
            finally:
                conn.settled.set()
        else:
            # Waiting for presence inline would hold back this client's other packets,
            # among them possibly the /presence CONNECT it waits for.
            conn.opening = asyncio.create_task(self._open_chat(conn), name=f"open-chat-{sid}")

    async def _open_chat(self, conn: Connection) -> None:
        try:
            try:
                await self._uc.sessions.await_presence(conn.user)
            except UserNotOnline as exc:
                await self._emit_error(conn, "connect", exc)
                await self._sio.disconnect(conn.sid, namespace=CHAT)
                return
            if conn.closed:
                return
            conn.opened = True
            # In the room before the connection counts as online: a message stored from
            # then on is emitted to it or left undelivered for offlineMessages, never lost.
            await self._sio.enter_room(conn.sid, wire.room(conn.user), namespace=CHAT)
            session = await self._uc.sessions.open(conn.user, conn.sid)
            await self._sio.emit(
                "offlineMessages",
                wire.envelope("Offline messages has been sent successfully",
                              [wire.message_json(m) for m in session.offline_messages],
                              hasMore=session.more_offline),
                to=conn.sid, namespace=CHAT,
            )
            await self._sio.emit("userChats", _user_chats(session.chats, conn.user), to=conn.sid,
                                 namespace=CHAT)
        except Exception as exc:
            if not isinstance(exc, StorageUnavailable):
                logger.exception("opening the /chat session of %s failed", conn.user)
            await self._emit_error(conn, "connect", exc)
            await self._sio.disconnect(conn.sid, namespace=CHAT)
            return
        finally:
            conn.settled.set()
        # Events that arrive while the backlog drains queue behind it, so order holds.
        backlog = conn.backlog
        while backlog and not conn.closed:
            ack_id, name, args = backlog.popleft()
            await self._handle(conn, ack_id, name, args)
        conn.backlog = None

    def _arm_expiry(self, conn: Connection) -> None:
        delay = conn.expires_at - time.time()
        loop = asyncio.get_running_loop()
        conn.expiry = loop.call_later(max(delay, 0.0), self._expire, conn)

    def _expire(self, conn: Connection) -> None:
        if not conn.closed:
            conn.closing = asyncio.create_task(self._close_expired(conn), name=f"expire-{conn.sid}")

    async def _close_expired(self, conn: Connection) -> None:
        await self._sio.emit(
            "appError", wire.error_envelope(401, "Token expired", "connect"), to=conn.sid,
            namespace=conn.namespace,
        )
        await self._sio.disconnect(conn.sid, namespace=conn.namespace)

    def _disconnect_handler(self, namespace: str) -> Callable[..., Awaitable[None]]:
        async def disconnect(sid: str, reason: Any = None) -> None:
            conn = self._connections.pop(sid, None)
            if conn is None:
                return
            conn.closed = True
            if conn.expiry is not None:
                conn.expiry.cancel()
            opening = conn.opening
            if opening is asyncio.current_task():
                pass  # the set-up step itself closes the connection (presence check failed)
            elif opening is not None and not opening.done() and not conn.opened:
                opening.cancel()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.settled.wait(), SETUP_WAIT_S)
            try:
                if namespace == PRESENCE:
                    await self._uc.presence.disconnect(conn.user, sid)
                elif conn.opened:
                    await self._uc.sessions.close(conn.user, sid)
            except Exception:
                logger.exception("disconnect of %s from %s failed", conn.user, namespace)

        return disconnect

    # --- events --------------------------------------------------------------------------

    async def on_event(
        self, namespace: str, sid: str, eio_sid: str, ack_id: int | None, name: str,
        args: list[Any],
    ) -> None:
        conn = self._connections.get(sid)
        if conn is None or conn.closed:
            return
        if conn.backlog is not None:
            if len(conn.backlog) < BACKLOG_LIMIT:
                conn.backlog.append((ack_id, name, args))
            else:
                await self._answer_error(conn, ack_id, name, RateLimited())
            return
        await self._handle(conn, ack_id, name, args)

    async def _handle(
        self, conn: Connection, ack_id: int | None, name: str, args: list[Any]
    ) -> None:
        caller = Caller(conn.user, conn.sid, acked=ack_id is not None)
        try:
            if not await self._limiter.acquire(conn.user, RateKind.REQUEST):
                raise RateLimited()
            route = self._routes[conn.namespace].get(name)
            if route is None:
                raise UnknownEvent(name)
            reply = await route(caller, args[0] if args else None)
        except Exception as exc:
            await self._answer_error(conn, ack_id, name, exc)
            return
        if ack_id is not None:
            await self._sio.send_ack(conn.eio_sid, conn.namespace, ack_id, reply.body)
        if reply.delivery is Delivery.ALWAYS or (
            reply.delivery is Delivery.IF_NO_ACK and ack_id is None
        ):
            await self._sio.emit(reply.event, reply.body, to=conn.sid, namespace=conn.namespace)

    async def _answer_error(
        self, conn: Connection, ack_id: int | None, event: str, exc: Exception
    ) -> None:
        body = self._error_body(conn, event, exc)
        if ack_id is not None:
            await self._sio.send_ack(conn.eio_sid, conn.namespace, ack_id, body)
        if isinstance(exc, RateLimited):
            now = time.monotonic()
            if now - conn.last_rate_notice < RATE_LIMITED_NOTICE_S:
                return
            conn.last_rate_notice = now
        await self._sio.emit("appError", body, to=conn.sid, namespace=conn.namespace)

    async def _emit_error(self, conn: Connection, event: str, exc: Exception) -> None:
        await self._sio.emit("appError", self._error_body(conn, event, exc), to=conn.sid,
                             namespace=conn.namespace)

    @staticmethod
    def _error_body(conn: Connection, event: str, exc: Exception) -> wire.Envelope:
        status, message = next(
            (v for k, v in _ERRORS.items() if isinstance(exc, k)), INTERNAL_ERROR
        )
        if status == 500:
            logger.error("event %r of %s failed", event[:100], conn.user, exc_info=exc)
        elif status == 503:
            logger.warning("event %r of %s: storage unavailable: %s", event[:100], conn.user, exc)
        return wire.error_envelope(status, message, event[:100], field_errors(exc))

    # --- routes: parse, run, describe the outcome ----------------------------------------

    async def _send_message(self, caller: Caller, data: Any) -> Reply:
        if not await self._limiter.acquire(caller.user, RateKind.SEND):
            raise RateLimited()
        sent = await self._uc.send_message(payloads.parse_send_message(caller, data))
        if sent.opened_chat:
            event, body = "newSentChat", wire.chat_opened(sent.chat, sent.message, caller.user)
        else:
            event, body = "receiveMessage", wire.message_received(sent.message)
        # A replay broadcast nothing: a caller without an ack gets the event itself.
        return Reply(event, body, Delivery.IF_NO_ACK if sent.replayed else Delivery.ACK_ONLY)

    async def _join_chat(self, caller: Caller, data: Any) -> Reply:
        joined = await self._uc.join_chat(payloads.parse_join_chat(caller, data))
        body = wire.envelope(
            "Chats have been loaded", wire.chat_json(joined.chat, caller.user, joined.messages)
        )
        return Reply("loadMessages", body, Delivery.ALWAYS)

    async def _mark_as_read(self, caller: Caller, data: Any) -> Reply:
        receipt = await self._uc.mark_as_read(payloads.parse_mark_as_read(caller, data))
        # With nothing unread nothing was broadcast (read_at is None).
        broadcast = receipt.read_at is not None
        return Reply(
            "updateReadReceipts", wire.read_receipt(receipt),
            Delivery.ACK_ONLY if broadcast else Delivery.IF_NO_ACK,
        )

    async def _delete_message(self, caller: Caller, data: Any) -> Reply:
        deleted = await self._uc.delete_message(payloads.parse_delete_message(caller, data))
        return Reply(
            "messageDeleted", wire.message_deleted(deleted.chat_id, deleted.message_id),
            Delivery.ACK_ONLY,
        )

    async def _signal(self, caller: Caller, data: Any, typing: bool) -> Reply:
        signal = await self._uc.signal_typing(payloads.parse_typing(caller, data, typing))
        # The signal goes to the other participant only; the caller just gets its ack.
        body = wire.typing(signal.chat_id, signal.user, typing)
        return Reply("userTyping" if typing else "stoppedTyping", body, Delivery.ACK_ONLY)

    async def _typing(self, caller: Caller, data: Any) -> Reply:
        return await self._signal(caller, data, True)

    async def _stopped_typing(self, caller: Caller, data: Any) -> Reply:
        return await self._signal(caller, data, False)

    async def _get_user_chats(self, caller: Caller, data: Any) -> Reply:
        page = await self._uc.get_user_chats(payloads.parse_get_user_chats(caller, data))
        return Reply("userChats", _user_chats(page, caller.user), Delivery.ALWAYS)

    async def _get_messages(self, caller: Caller, data: Any) -> Reply:
        page = await self._uc.get_messages(payloads.parse_get_messages(caller, data))
        body = wire.envelope("Messages have been loaded", {
            "chatId": page.chat_id,
            "messages": [wire.message_json(m) for m in page.messages],
            "hasMore": page.has_more,
        })
        return Reply("moreMessages", body, Delivery.ALWAYS)

    async def _join_rooms(self, caller: Caller, data: Any) -> Reply:
        # Event-doc clients send their chat ids here; delivery is per user, so any payload
        # is accepted and ignored.
        return Reply("joinRooms", wire.envelope("User joined all chat rooms", {}),
                     Delivery.ACK_ONLY)

    async def _check_online_presence(self, caller: Caller, data: Any) -> Reply:
        status = await self._uc.check_online_presence(
            payloads.parse_check_online_presence(caller, data)
        )
        body = wire.presence(status.user, status.online, status.last_seen)
        return Reply("onlinePresence", body, Delivery.ALWAYS)


def _user_chats(page: ChatPage, viewer: UserRef) -> wire.Envelope:
    return wire.envelope(
        "Chats have been sent successfully",
        [wire.chat_json(item.chat, viewer, item.messages) for item in page.chats],
        nextCursor=page.next_cursor,
    )
