"""The Socket.IO subscriber of the event publisher: one emit per event, to the users' rooms.

An emit to several users is one emit to several rooms, so it is encoded once (and crosses
nodes once). The publication context ``Asker`` names the socket that asked for the events
when it takes the outcome from its ack: the emits then skip it (PROTOCOL.md section 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from chat_server.application.events import (
    EVENT_TYPES,
    ChatOpened,
    ChatUpdated,
    Event,
    MessageDeleted,
    MessageEdited,
    MessageStored,
    PresenceChanged,
    ReadReceipt,
    SendReplayed,
    TypingChanged,
    UserReported,
)
from chat_server.domain.model import Chat, Message, UserRef
from chat_server.entrypoints.socketio import wire

CHAT = "/chat"
PRESENCE = "/presence"


@attrs.frozen
class Asker:
    """The socket that asked: it learns the outcome from its ack, so emits skip it."""

    sid: str


def namespace_of(event: Event) -> str:
    return PRESENCE if isinstance(event, PresenceChanged) else CHAT


def awaiting(message: Message) -> list[tuple[str, str]] | None:
    """What the node writing this message to a recipient's socket confirms: ``(room,
    message id)`` for each recipient it still awaits (the storing node held none)."""
    if not message.awaiting_delivery:
        return None
    return [(wire.room(u), message.id) for u in message.recipients]


def reaches(event: Event, user: UserRef, namespace: str) -> bool:
    """Whether emitting ``event`` reaches the sockets of ``user`` in ``namespace``."""
    return namespace_of(event) == namespace and user in event.audience


class SocketIONotifier:
    """Encodes an event once for all its recipients, but for a message with attachments:
    their URLs are signed for each participant, so each gets their own."""

    handles: frozenset[type] = frozenset(EVENT_TYPES) - {UserReported, SendReplayed}

    def __init__(self, sio: Any) -> None:
        self._sio = sio

    async def _to_both(
        self, chat: Chat, message: Message, name: str,
        body: Callable[[Message, UserRef | None], wire.Envelope], skip: str | None,
        *, confirm: bool = False,
    ) -> None:
        """``confirm``: the emit asks the node that writes it to a recipient's socket to
        confirm the delivery (``awaiting``)."""
        pending = awaiting(message) if confirm else None
        if not message.attachments:
            await self._sio.emit(name, body(message, None),
                                 to=[wire.room(u) for u in chat.participants], namespace=CHAT,
                                 skip_sid=skip, confirm=pending)
            return
        for viewer in chat.participants:
            room = wire.room(viewer)
            mine = [p for p in pending if p[0] == room] if pending else None
            await self._sio.emit(name, body(message, viewer), to=room,
                                 namespace=CHAT, skip_sid=skip, confirm=mine or None)

    async def deliver(self, event: Event, context: object | None) -> None:
        skip = context.sid if isinstance(context, Asker) else None
        emit = self._sio.emit
        match event:
            case MessageStored(chat=chat, message=message):
                await self._to_both(chat, message, "receiveMessage", wire.message_received, skip,
                                    confirm=True)
            case ChatOpened(chat=chat, message=None):
                for viewer in chat.participants:
                    await emit("newChat", wire.chat_opened(chat, None, viewer),
                               to=wire.room(viewer), namespace=CHAT)
            case ChatOpened(chat=chat, message=Message() as message):
                sender = message.sender or chat.customer
                recipient = chat.counterpart(sender)
                await emit(
                    "newChat", wire.chat_opened(chat, message, recipient),
                    to=wire.room(recipient), namespace=CHAT, confirm=awaiting(message),
                )
                await emit(
                    "newSentChat", wire.chat_opened(chat, message, sender),
                    to=wire.room(sender), namespace=CHAT, skip_sid=skip,
                )
            case ReadReceipt():
                await emit(
                    "updateReadReceipts", wire.read_receipt(event),
                    to=[wire.room(u) for u in event.audience], namespace=CHAT, skip_sid=skip,
                )
            case MessageDeleted(chat_id=chat_id, message_id=message_id, audience=audience):
                await emit(
                    "messageDeleted", wire.message_deleted(chat_id, message_id),
                    to=[wire.room(u) for u in audience], namespace=CHAT, skip_sid=skip,
                )
            case TypingChanged(chat_id=chat_id, user=user, recipient=recipient, typing=typing):
                await emit(
                    "userTyping" if typing else "stoppedTyping",
                    wire.typing(chat_id, user, typing), to=wire.room(recipient), namespace=CHAT,
                )
            case MessageEdited(chat=chat, message=message):
                await self._to_both(chat, message, "messageEdited", wire.message_edited, skip)
            case ChatUpdated(chat=chat):
                for viewer in chat.participants:
                    await emit("chatUpdated", wire.chat_updated(chat, viewer),
                               to=wire.room(viewer), namespace=CHAT)
            case PresenceChanged(user=user, online=online, last_seen=last_seen, watchers=watchers):
                name, body = (
                    ("userIsOnline", wire.user_online(user)) if online
                    else ("userIsOffline", wire.user_offline(user, last_seen))
                )
                await emit(name, body, to=[wire.room(u) for u in watchers], namespace=PRESENCE)


if TYPE_CHECKING:  # mypy proves here that the notifier is a subscriber of the publisher
    from chat_server.application.bus import Subscriber

    def _conforms(sio: Any) -> None:
        subscriber: Subscriber = SocketIONotifier(sio)
        del subscriber
