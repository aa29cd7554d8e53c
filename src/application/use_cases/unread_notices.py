"""The offline-lead notice: a message still unread a while after it was stored, by a
recipient who took no /chat connection since (SERVER_API.md ``message.unread``)."""

from __future__ import annotations

import attrs

from chat_server.application.ports import Channel, ChatRepository, MessageRepository, PresenceRegistry
from chat_server.domain.model import Chat, Message, UserRef

NOTICE_MESSAGES = 10


@attrs.frozen
class UnreadNotice:
    user: UserRef
    chat: Chat
    unread_count: int
    messages: list[Message]  # the unread ones addressed to the user, oldest first


class UnreadNotices:
    """Whether to tell the marketplace that ``user`` has not seen a message.

    - Nothing when the user read it meanwhile, holds a /chat connection now, or took one
      since it was stored (then it no longer awaits delivery: they had it).
    - At most one notice per chat and user until they read that chat again.
    """

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository,
                 presence: PresenceRegistry) -> None:
        self._chats = chats
        self._messages = messages
        self._presence = presence

    async def evaluate(self, chat_id: str, user: UserRef, message_id: str, token: str
                       ) -> UnreadNotice | None:
        chat = await self._chats.get(chat_id)
        message = await self._messages.get(message_id)
        if chat is None or message is None or message.deleted or message.read:
            return None
        unread = chat.unread_for(user)
        if unread == 0 or message.seq <= chat.read_seq_of(user.type):
            return None
        if not message.awaiting_delivery or await self._presence.is_connected(
                user, Channel.CHAT):
            return None
        if not await self._chats.claim_unread_notice(chat.id, user.type,
                                                     chat.read_seq_of(user.type), token):
            return None
        newest = await self._messages.history(chat.id, chat.history_end, NOTICE_MESSAGES * 2)
        unread_ones = [m for m in newest
                       if m.seq > chat.read_seq_of(user.type) and user in m.recipients]
        unread_ones = unread_ones[:NOTICE_MESSAGES]
        unread_ones.reverse()
        return UnreadNotice(user, chat, unread, unread_ones)
