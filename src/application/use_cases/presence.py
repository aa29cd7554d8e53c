"""Who is online: presence connections, announcements to counterparts, last seen."""

from __future__ import annotations

from datetime import datetime

import attrs

from chat_server.application.events import Event, Outcome, PresenceChanged
from chat_server.application.ports import (
    Channel,
    ChatRepository,
    Clock,
    LastSeenRepository,
    PresenceRegistry,
)
from chat_server.application.use_cases.common import PRESENCE_WATCHERS_LIMIT, Caller
from chat_server.domain.errors import NoSharedChat
from chat_server.domain.model import UserRef


@attrs.frozen
class PresenceStatus:
    user: UserRef
    online: bool
    last_seen: datetime | None


@attrs.frozen
class CheckOnlinePresence:
    caller: Caller
    about: UserRef


class CheckOnlinePresenceHandler:
    """Whether a user is online; only about a user who shares a chat with the caller."""

    def __init__(
        self, *, chats: ChatRepository, presence: PresenceRegistry,
        last_seen: LastSeenRepository,
    ) -> None:
        self._chats = chats
        self._presence = presence
        self._last_seen = last_seen

    async def __call__(self, query: CheckOnlinePresence) -> PresenceStatus:
        if not await self._chats.shares_chat(query.caller.user, query.about):
            raise NoSharedChat(str(query.about))
        online = await self._presence.is_connected(query.about, Channel.PRESENCE)
        last_seen = None if online else await self._last_seen.get(query.about)
        return PresenceStatus(query.about, online, last_seen)


class PresenceTracker:
    """A user is online while any of their /presence connections is open.

    - The first connection (0 -> 1) announces ``online`` to every user who shares a chat;
      the last one closing (1 -> 0) stores ``last_seen`` and announces ``offline``.
    - Several tabs and devices count separately.
    """

    def __init__(
        self, *, chats: ChatRepository, presence: PresenceRegistry,
        last_seen: LastSeenRepository, clock: Clock,
    ) -> None:
        self._chats = chats
        self._presence = presence
        self._last_seen = last_seen
        self._clock = clock

    async def connect(self, user: UserRef, connection_id: str) -> Outcome[None]:
        if not await self._presence.add(user, connection_id, Channel.PRESENCE):
            return Outcome(None)
        return await self._announce(user, True, None)

    async def disconnect(self, user: UserRef, connection_id: str) -> Outcome[None]:
        if not await self._presence.remove(user, connection_id, Channel.PRESENCE):
            return Outcome(None)
        now = self._clock.now()
        await self._last_seen.set(user, now)
        if await self._presence.is_connected(user, Channel.PRESENCE):
            return Outcome(None)  # came back while we stored last_seen: still online
        return await self._announce(user, False, now)

    async def _announce(self, user: UserRef, online: bool, at: datetime | None
                        ) -> Outcome[None]:
        watchers = await self._chats.counterparts(user, PRESENCE_WATCHERS_LIMIT)
        if not watchers:
            return Outcome(None)
        return Outcome(None, (PresenceChanged(user, online, at, watchers),))

    async def reap(self, limit: int = 1000) -> Outcome[int]:
        """Close the connections of server nodes that died: their users go offline (and
        their counterparts learn it) unless connected elsewhere. Returns how many."""
        expired = await self._presence.expired(limit)
        events: list[Event] = []
        for gone in expired:
            if gone.channel is Channel.PRESENCE:
                events += (await self.disconnect(gone.user, gone.connection_id)).events
            else:
                await self._presence.remove(gone.user, gone.connection_id, gone.channel)
        return Outcome(len(expired), tuple(events))
