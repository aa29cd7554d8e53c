"""The /chat session of a connection: the presence gate, offline messages, first chats."""

from __future__ import annotations

import attrs

from chat_server.application.ports import Channel, Clock, MessageRepository, PresenceRegistry
from chat_server.application.use_cases.common import OFFLINE_MESSAGES_LIMIT, Caller
from chat_server.application.use_cases.listing import ChatPage, GetUserChats, GetUserChatsHandler
from chat_server.domain.errors import UserNotOnline
from chat_server.domain.model import Message, UserRef


@attrs.frozen
class ChatSession:
    offline_messages: list[Message]
    more_offline: bool
    chats: ChatPage


class ChatSessions:
    """A /chat connection of a user.

    - It needs the user online in /presence; the check waits for a presence connection
      opened at the same time, up to the grace period.
    - Once accepted it counts for ``recipient_online`` and delivery; it receives the
      messages stored while the user had no /chat connection (oldest first, at most
      ``OFFLINE_MESSAGES_LIMIT``), each then marked delivered, and the first page of chats.
    """

    def __init__(
        self, *, messages: MessageRepository, presence: PresenceRegistry, clock: Clock,
        user_chats: GetUserChatsHandler, grace_seconds: float,
    ) -> None:
        self._messages = messages
        self._presence = presence
        self._clock = clock
        self._user_chats = user_chats
        self._grace = grace_seconds

    async def await_presence(self, user: UserRef) -> None:
        if not await self._presence.wait_connected(user, Channel.PRESENCE, self._grace):
            raise UserNotOnline(str(user))

    async def open(self, caller: Caller) -> ChatSession:
        assert caller.connection_id is not None, "a session belongs to a connection"
        await self._presence.add(caller.user, caller.connection_id, Channel.CHAT)
        pending = await self._messages.undelivered(caller.user, OFFLINE_MESSAGES_LIMIT + 1)
        more = len(pending) > OFFLINE_MESSAGES_LIMIT
        pending = pending[:OFFLINE_MESSAGES_LIMIT]
        if pending:
            now = self._clock.now()
            await self._messages.mark_delivered(caller.user, [m.id for m in pending], now)
            pending = [attrs.evolve(m, delivered_at=m.delivered_at or now, awaiting_delivery=False)
                       for m in pending]
        chats = await self._user_chats(GetUserChats(caller))
        return ChatSession(pending, more, chats)

    async def close(self, caller: Caller) -> None:
        assert caller.connection_id is not None, "a session belongs to a connection"
        await self._presence.remove(caller.user, caller.connection_id, Channel.CHAT)
