"""The Notifier port over Socket.IO: one emit per notification, to the users' rooms."""

from __future__ import annotations

from typing import Any

from chat_server.application.notifications import (
    ChatOpened,
    MessageDeleted,
    MessageStored,
    Notification,
    PresenceChanged,
    ReadReceipt,
    TypingChanged,
)
from chat_server.entrypoints.socketio import wire

CHAT = "/chat"
PRESENCE = "/presence"


class SocketIONotifier:
    """An emit to several users is one emit to several rooms, so it is encoded once."""

    def __init__(self, sio: Any) -> None:
        self._sio = sio

    async def publish(self, notification: Notification, skip_connection: str | None = None) -> None:
        emit = self._sio.emit
        match notification:
            case MessageStored(chat=chat, message=message):
                await emit(
                    "receiveMessage", wire.message_received(message),
                    to=[wire.room(u) for u in chat.participants], namespace=CHAT,
                    skip_sid=skip_connection,
                )
            case ChatOpened(chat=chat, message=message):
                sender, recipient = message.sender, message.recipient
                await emit(
                    "newChat", wire.chat_opened(chat, message, recipient),
                    to=wire.room(recipient), namespace=CHAT,
                )
                await emit(
                    "newSentChat", wire.chat_opened(chat, message, sender),
                    to=wire.room(sender), namespace=CHAT, skip_sid=skip_connection,
                )
            case ReadReceipt():
                await emit(
                    "updateReadReceipts", wire.read_receipt(notification),
                    to=[wire.room(u) for u in notification.audience], namespace=CHAT,
                    skip_sid=skip_connection,
                )
            case MessageDeleted(chat_id=chat_id, message_id=message_id, audience=audience):
                await emit(
                    "messageDeleted", wire.message_deleted(chat_id, message_id),
                    to=[wire.room(u) for u in audience], namespace=CHAT,
                    skip_sid=skip_connection,
                )
            case TypingChanged(chat_id=chat_id, user=user, recipient=recipient, typing=typing):
                await emit(
                    "userTyping" if typing else "stoppedTyping",
                    wire.typing(chat_id, user, typing), to=wire.room(recipient), namespace=CHAT,
                )
            case PresenceChanged(user=user, online=online, last_seen=last_seen, watchers=watchers):
                event, body = (
                    ("userIsOnline", wire.user_online(user)) if online
                    else ("userIsOffline", wire.user_offline(user, last_seen))
                )
                await emit(
                    event, body, to=[wire.room(u) for u in watchers], namespace=PRESENCE
                )
