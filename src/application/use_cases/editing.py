"""Editing a message's text."""

from __future__ import annotations

import attrs

from chat_server.application.events import MessageEdited, Outcome
from chat_server.application.ports import ChatRepository, Clock, MessageRepository
from chat_server.application.use_cases.common import Caller, ChatFinder, ChatRef
from chat_server.domain.contact_filter import ContactFilter, FilterMode
from chat_server.domain.errors import MessageNotFound
from chat_server.domain.model import MessageContent


@attrs.frozen
class EditMessage:
    caller: Caller
    ref: ChatRef
    message_id: str
    text: str


class EditMessageHandler:
    """Change the text of a message (or the caption of an image message).

    - Only its sender (403), within ``window_s`` of when it was sent (403); not in a chat
      where the other participant blocks the caller (403). A deleted message, or one of
      another chat, is a 404.
    - The same text limits and contact-detail filter as a send.
    - Both participants learn it (``messageEdited``); history and offline messages show
      the new text from then on.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository, clock: Clock,
                 window_s: float, contact_filter: ContactFilter | None = None) -> None:
        self._finder = ChatFinder(chats)
        self._messages = messages
        self._clock = clock
        self._window_s = window_s
        self._filter = contact_filter or ContactFilter(FilterMode.OFF, frozenset())

    async def __call__(self, cmd: EditMessage) -> Outcome[MessageEdited]:
        user = cmd.caller.user
        chat = await self._finder.get(user, cmd.ref)
        chat.ensure_may_write(user)
        message = await self._messages.get(cmd.message_id)
        if message is None or message.chat_id != chat.id or message.deleted:
            raise MessageNotFound(cmd.message_id)
        now = self._clock.now()
        message.ensure_editable_by(user, now, self._window_s)
        # Only the text changes: the images and attachments were checked when sent (with
        # the URL policy of that time) and stay; a caption may go when they are there.
        content = MessageContent.create(
            cmd.text, None, has_attachments=bool(message.images or message.attachments))
        filtered = self._filter.apply(content.text) if content.text else None
        text = filtered.text if filtered else content.text
        edited = await self._messages.edit(message.id, text, bool(filtered and filtered.masked),
                                           now)
        if edited is None:  # deleted meanwhile
            raise MessageNotFound(cmd.message_id)
        event = MessageEdited(chat, edited)
        return Outcome(event, (event,))
