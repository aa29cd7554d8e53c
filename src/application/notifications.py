"""What use cases announce to users; the Notifier port turns them into socket events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from chat_server.domain.model import Chat, Message, UserRef


@attrs.frozen
class MessageStored:
    """A message in an existing chat: to every device of both participants."""

    chat: Chat
    message: Message


@attrs.frozen
class ChatOpened:
    """The first message of a new chat: the recipient learns of the chat, the sender too."""

    chat: Chat
    message: Message


@attrs.frozen
class ReadReceipt:
    chat_id: str
    reader: UserRef
    read_at: datetime | None
    message_ids: Sequence[str]
    read_up_to_seq: int
    audience: Sequence[UserRef]


@attrs.frozen
class MessageDeleted:
    chat_id: str
    message_id: str
    audience: Sequence[UserRef]


@attrs.frozen
class TypingChanged:
    chat_id: str
    user: UserRef
    recipient: UserRef
    typing: bool


@attrs.frozen
class PresenceChanged:
    """A user came online (first presence connection) or went offline (last one closed)."""

    user: UserRef
    online: bool
    last_seen: datetime | None
    watchers: Sequence[UserRef]


Notification = (
    MessageStored | ChatOpened | ReadReceipt | MessageDeleted | TypingChanged | PresenceChanged
)
