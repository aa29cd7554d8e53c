"""Opening a chat and marking it read."""

from __future__ import annotations

import attrs

from chat_server.application.events import Outcome, ReadReceipt
from chat_server.application.ports import (
    ChatRepository,
    Clock,
    MessageRepository,
    UnreadCounters,
)
from chat_server.application.use_cases.common import (
    LOAD_MESSAGES_LIMIT,
    RECEIPT_IDS_LIMIT,
    Caller,
    ChatFinder,
    ChatRef,
    ChatWithMessages,
    latest_messages,
)
from chat_server.application.use_cases.display import TrustedDisplay, record_unread
from chat_server.domain.model import Chat, UserRef


class ReadMarker:
    """Marks everything addressed to a user in a chat as read.

    Returns the chat after marking and the receipt; the receipt is an event (for both
    participants) only when something was newly read.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository, clock: Clock,
                 counters: UnreadCounters) -> None:
        self._chats = chats
        self._messages = messages
        self._clock = clock
        self._counters = counters

    async def mark(self, reader: UserRef, chat: Chat) -> tuple[Chat, ReadReceipt, bool]:
        before, after = await self._chats.mark_read(chat.id, reader.type)
        up_to = after.read_seq_of(reader.type)
        if up_to <= before.read_seq_of(reader.type) and before.unread_for(reader) == 0:
            return after, ReadReceipt(chat.id, reader, None, [], up_to, chat.participants), False
        await record_unread(self._counters, after, (reader,))
        now = self._clock.now()
        ids = await self._messages.mark_read(chat.id, reader.type, up_to, now, RECEIPT_IDS_LIMIT)
        return after, ReadReceipt(chat.id, reader, now, ids, up_to, chat.participants), True


@attrs.frozen
class JoinChat:
    caller: Caller
    ref: ChatRef


class JoinChatHandler:
    """Open a chat: mark it read for the caller and return it with its latest messages.

    - Only a participant may join (403); an unknown chat is a 404.
    - When anything was marked read, both participants get the read receipt.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository,
                 marker: ReadMarker, display: TrustedDisplay) -> None:
        self._finder = ChatFinder(chats)
        self._messages = messages
        self._marker = marker
        self._display = display

    async def __call__(self, cmd: JoinChat) -> Outcome[ChatWithMessages]:
        chat = await self._finder.get(cmd.caller.user, cmd.ref)
        chat, receipt, marked = await self._marker.mark(cmd.caller.user, chat)
        chat = await self._display.show_one(chat)
        latest = await latest_messages(self._messages, chat, LOAD_MESSAGES_LIMIT)
        return Outcome(ChatWithMessages(chat, latest), (receipt,) if marked else ())


@attrs.frozen
class MarkAsRead:
    caller: Caller
    ref: ChatRef


class MarkAsReadHandler:
    """Mark every message addressed to the caller in a chat as read.

    - Participants only; the receipt goes to both. With nothing unread it is only the
      answer (``read_at`` None, no ids), not an event.
    """

    def __init__(self, *, chats: ChatRepository, marker: ReadMarker) -> None:
        self._finder = ChatFinder(chats)
        self._marker = marker

    async def __call__(self, cmd: MarkAsRead) -> Outcome[ReadReceipt]:
        chat = await self._finder.get(cmd.caller.user, cmd.ref)
        _, receipt, marked = await self._marker.mark(cmd.caller.user, chat)
        return Outcome(receipt, (receipt,) if marked else ())
