"""Deleting a message."""

from __future__ import annotations

import attrs

from chat_server.application.events import MessageDeleted, Outcome
from chat_server.application.ports import (
    ChatRepository,
    Clock,
    MessageRepository,
    UnreadCounters,
)
from chat_server.application.uploads import DeleteAttachments, DeleteAttachmentsHandler
from chat_server.application.use_cases.common import Caller, ChatFinder, ChatRef
from chat_server.application.use_cases.display import record_unread
from chat_server.domain.errors import MessageNotFound, NotTheSender
from chat_server.domain.model import Chat, Message


@attrs.frozen
class DeleteMessage:
    caller: Caller
    ref: ChatRef
    message_id: str


async def forget_message(
    chats: ChatRepository, messages: MessageRepository, counters: UnreadCounters, chat: Chat,
    message: Message,
) -> Chat:
    """Undo what a deleted message did to its chat's counters and last-message pointer,
    and to its recipients' unread totals."""
    replacement = None
    if chat.last_message_id == message.id:
        latest = await messages.history(chat.id, before_seq=message.seq, limit=1)
        replacement = latest[0] if latest else None
    after = await chats.forget_message(chat.id, message, replacement)
    await record_unread(counters, after, message.recipients)
    return after


class DeleteMessageHandler:
    """Delete a message.

    - Only its sender may (403); a message of another chat, unknown or already deleted is
      a 404. Its text, images and attachments (their files too) are erased from storage;
      it no longer counts as unread nor as the chat's last message. Both participants
      learn it.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository, clock: Clock,
                 counters: UnreadCounters,
                 delete_attachments: DeleteAttachmentsHandler | None = None) -> None:
        self._counters = counters
        self._delete_attachments = delete_attachments
        self._chats = chats
        self._messages = messages
        self._clock = clock
        self._finder = ChatFinder(chats)

    async def __call__(self, cmd: DeleteMessage) -> Outcome[MessageDeleted]:
        user = cmd.caller.user
        chat = await self._finder.get(user, cmd.ref)
        message = await self._messages.get(cmd.message_id)
        if message is None or message.chat_id != chat.id or message.deleted:
            raise MessageNotFound(cmd.message_id)
        if message.sender != user:
            raise NotTheSender(cmd.message_id)
        erased = await self._messages.erase(message.id, self._clock.now())
        if erased is None:
            raise MessageNotFound(cmd.message_id)
        await forget_message(self._chats, self._messages, self._counters, chat, erased)
        if erased.attachments and self._delete_attachments is not None:
            await self._delete_attachments(DeleteAttachments(message_id=message.id))
        deleted = MessageDeleted(chat.id, message.id, chat.participants)
        return Outcome(deleted, (deleted,))
