"""What is stored about a user, handed out (export) or forgotten (erasure)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import attrs

from chat_server.application.events import Event, MessageDeleted, Outcome
from chat_server.application.ports import (
    ChatCursor,
    ChatRepository,
    Clock,
    LastSeenRepository,
    MessageRepository,
    ProfileRepository,
    UnreadCounters,
)
from chat_server.application.uploads import DeleteAttachments, DeleteAttachmentsHandler
from chat_server.application.use_cases.deleting import forget_message
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.domain.directory import Profile
from chat_server.domain.model import Chat, Message, UserRef

CHATS_PAGE = 100
MESSAGES_PAGE = 500


async def all_chats(chats: ChatRepository, user: UserRef) -> AsyncIterator[Chat]:
    """Every chat of the user, most recent first, a page at a time."""
    after: ChatCursor | None = None
    while True:
        page = await chats.page_for(user, CHATS_PAGE, after)
        for chat in page:
            yield chat
        if len(page) < CHATS_PAGE:
            return
        after = ChatCursor(page[-1].last_message_at, page[-1].id)


async def all_messages(messages: MessageRepository, chat: Chat) -> AsyncIterator[list[Message]]:
    """Every message of the chat, deleted ones included, oldest first, page by page."""
    after = 0
    while after < chat.last_seq:
        page = await messages.export_page(chat.id, after, chat.last_seq, MESSAGES_PAGE)
        if not page:
            return
        yield page
        after = page[-1].seq


@attrs.frozen
class UserData:
    user: UserRef
    profile: Profile | None
    last_seen: datetime | None
    chats: AsyncIterator[Chat]  # as the user sees them; read their messages with messages()


class ExportUser:
    """Everything stored about a user: their profile, last seen, chats, and every message
    they sent or received (deleted ones as deleted). Streamed: nothing is held whole."""

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository,
                 profiles: ProfileRepository, last_seen: LastSeenRepository,
                 display: TrustedDisplay) -> None:
        self._chats = chats
        self._messages = messages
        self._profiles = profiles
        self._last_seen = last_seen
        self._display = display

    async def __call__(self, user: UserRef) -> UserData:
        return UserData(user, await self._profiles.get(user), await self._last_seen.get(user),
                        self._shown(user))

    async def _shown(self, user: UserRef) -> AsyncIterator[Chat]:
        async for chat in all_chats(self._chats, user):
            yield await self._display.show_one(chat)

    def messages(self, chat: Chat) -> AsyncIterator[list[Message]]:
        return all_messages(self._messages, chat)


@attrs.frozen
class Erased:
    chats: int
    messages_erased: int


class EraseUser:
    """Forget a user (a data-protection request). Idempotent.

    - Every message they sent is erased as ``deleteMessage`` erases it (counterparts get
      ``messageDeleted``); the counterparts' messages stay.
    - Their profile, their display fields in every chat, their last seen, their unread
      totals and their uploads (files too) are removed.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository,
                 profiles: ProfileRepository, last_seen: LastSeenRepository,
                 counters: UnreadCounters, clock: Clock,
                 delete_attachments: DeleteAttachmentsHandler | None = None) -> None:
        self._delete_attachments = delete_attachments
        self._chats = chats
        self._messages = messages
        self._profiles = profiles
        self._last_seen = last_seen
        self._counters = counters
        self._clock = clock

    async def __call__(self, user: UserRef) -> Outcome[Erased]:
        events: list[Event] = []
        erased = 0
        chats = [chat async for chat in all_chats(self._chats, user)]
        for chat in chats:
            async for page in all_messages(self._messages, chat):
                for message in page:
                    if message.sender != user or message.deleted:
                        continue
                    before = await self._messages.erase(message.id, self._clock.now())
                    if before is None:
                        continue  # erased meanwhile
                    current = await self._chats.get(chat.id) or chat
                    await forget_message(self._chats, self._messages, self._counters, current,
                                         before)
                    if before.attachments and self._delete_attachments is not None:
                        await self._delete_attachments(DeleteAttachments(message_id=message.id))
                    events.append(MessageDeleted(chat.id, message.id, chat.participants))
                    erased += 1
        if self._delete_attachments is not None:  # what they uploaded and never sent too
            await self._delete_attachments(DeleteAttachments(uploader=user))
        count = await self._chats.erase_side(user)
        await self._profiles.delete(user)
        await self._last_seen.forget(user)
        await self._counters.forget(user)
        return Outcome(Erased(count, erased), tuple(events))
