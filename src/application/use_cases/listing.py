"""Reading lists: a user's chats, a chat's history."""

from __future__ import annotations

import attrs

from chat_server.application.ports import (
    ChatCursor,
    ChatRepository,
    MessageRepository,
    UnreadCounters,
    UnreadTotals,
)
from chat_server.application.use_cases.common import Caller, ChatFinder, ChatRef, ChatWithMessages
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.domain.model import Message


@attrs.frozen
class GetUserChats:
    caller: Caller
    limit: int = 20
    after: ChatCursor | None = None


@attrs.frozen
class ChatPage:
    chats: list[ChatWithMessages]  # each with its latest message
    next_cursor: ChatCursor | None
    unread: UnreadTotals  # all the user's chats, not only this page


class GetUserChatsHandler:
    """A page of the user's chats, most recent first, each with its latest message, as
    the trusted display shows them, and the user's unread totals.

    A constant number of storage queries per page, whatever the number of chats.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository,
                 display: TrustedDisplay, counters: UnreadCounters) -> None:
        self._chats = chats
        self._messages = messages
        self._display = display
        self._counters = counters

    async def __call__(self, query: GetUserChats) -> ChatPage:
        chats = await self._chats.page_for(query.caller.user, query.limit + 1, query.after)
        has_more = len(chats) > query.limit
        chats = await self._display.show(chats[: query.limit])
        wanted = [c.last_message_id for c in chats if c.last_message_id is not None]
        by_id = {m.id: m for m in await self._messages.by_ids(wanted)}
        items = []
        for chat in chats:
            last = by_id.get(chat.last_message_id or "")
            if last is not None and last.deleted:  # deleted since the pointer was read
                last = None
            items.append(ChatWithMessages(chat, [last] if last is not None else []))
        last_chat = chats[-1] if has_more and chats else None
        cursor = ChatCursor(last_chat.last_message_at, last_chat.id) if last_chat else None
        return ChatPage(items, cursor, await self._counters.totals(query.caller.user))


@attrs.frozen
class GetMessages:
    caller: Caller
    ref: ChatRef
    before_seq: int | None = None
    limit: int = 50


@attrs.frozen
class MessagePage:
    chat_id: str
    messages: list[Message]  # oldest first
    has_more: bool


class GetMessagesHandler:
    """Older history of one chat, for participants only, paged by seq."""

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository) -> None:
        self._finder = ChatFinder(chats)
        self._messages = messages

    async def __call__(self, query: GetMessages) -> MessagePage:
        chat = await self._finder.get(query.caller.user, query.ref)
        before = query.before_seq if query.before_seq is not None else chat.history_end
        found = await self._messages.history(chat.id, before, query.limit + 1)
        page = found[: query.limit]
        page.reverse()
        return MessagePage(chat.id, page, has_more=len(found) > query.limit)
