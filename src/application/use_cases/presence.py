"""Who is online: presence connections, announcements to counterparts, last seen."""

from __future__ import annotations

from datetime import datetime

import attrs

from chat_server.application.events import Outcome, PresenceChanged
from chat_server.application.ports import (
    Channel,
    ChatRepository,
    Clock,
    LastSeenRepository,
    PresenceRegistry,
)
from chat_server.application.use_cases.common import PRESENCE_WATCHERS_LIMIT, Caller
from chat_server.domain.errors import NoSharedChat
from chat_server.domain.model import UserRef, UserType


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
    """Whether a user is online, and since when not.

    - Only about a user whose presence the caller may see (``sees_presence_of``: a vendor
      who shares a chat, a customer who wrote to the caller); 403 otherwise.
    - A user who blocks the caller is told offline, with no last seen.
    """

    def __init__(
        self, *, chats: ChatRepository, presence: PresenceRegistry,
        last_seen: LastSeenRepository,
    ) -> None:
        self._chats = chats
        self._presence = presence
        self._last_seen = last_seen

    async def __call__(self, query: CheckOnlinePresence) -> PresenceStatus:
        viewer = query.caller.user
        if not await self._chats.sees_presence_of(viewer, query.about):
            raise NoSharedChat(str(query.about))
        pair = ((viewer, query.about) if viewer.type is UserType.CUSTOMER
                else (query.about, viewer))
        customer_blocks, vendor_blocks = await self._chats.blocking_between(
            pair[0].id, pair[1].id)
        if customer_blocks if query.about.type is UserType.CUSTOMER else vendor_blocks:
            return PresenceStatus(query.about, False, None)  # the subject blocks the viewer
        online = await self._presence.is_connected(query.about, Channel.PRESENCE)
        last_seen = None if online else await self._last_seen.get(query.about)
        return PresenceStatus(query.about, online, last_seen)


@attrs.frozen
class WentOffline:
    """A user's last presence connection closed at ``at``; whether their counterparts are
    told is decided by ``PresenceTracker.settle`` a little later (debouncing)."""

    user: UserRef
    at: datetime


class PresenceTracker:
    """A user is online while any of their /presence connections is open.

    - The first connection (0 -> 1) announces ``online`` to the users who may see the
      user's presence (``presence_audience``), unless they were never told otherwise.
    - The last one closing (1 -> 0) is only a ``WentOffline``: the caller settles it after
      the offline delay, and only a user still offline then is announced ``offline`` (with
      ``last_seen`` stored). A reload, a network blip or a tab switch announce nothing and
      write nothing; the announced state is kept by the registry, across nodes.
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
        if not await self._presence.announce(user, True):
            return Outcome(None)  # still announced online: the offline was never told
        return await self._announce(user, True, None)

    async def disconnect(self, user: UserRef, connection_id: str
                         ) -> Outcome[WentOffline | None]:
        if not await self._presence.remove(user, connection_id, Channel.PRESENCE):
            return Outcome(None)
        return Outcome(WentOffline(user, self._clock.now()))

    async def settle(self, gone: WentOffline) -> Outcome[None]:
        """Announce ``gone`` unless the user came back meanwhile (or it was announced)."""
        if await self._presence.is_connected(gone.user, Channel.PRESENCE):
            return Outcome(None)
        if not await self._presence.announce(gone.user, False):
            return Outcome(None)
        await self._last_seen.set(gone.user, gone.at)
        if await self._presence.is_connected(gone.user, Channel.PRESENCE):
            # Came back while last_seen was stored: they are online again for the others.
            await self._presence.announce(gone.user, True)
            return Outcome(None)
        return await self._announce(gone.user, False, gone.at)

    async def _announce(self, user: UserRef, online: bool, at: datetime | None
                        ) -> Outcome[None]:
        watchers = await self._chats.presence_audience(user, PRESENCE_WATCHERS_LIMIT)
        if not watchers:
            return Outcome(None)
        return Outcome(None, (PresenceChanged(user, online, at, watchers),))

    async def reap(self, limit: int = 1000) -> Outcome[list[WentOffline]]:
        """Close the connections of server nodes that died; returns the users whose last
        presence connection that was (to settle like any other)."""
        expired = await self._presence.expired(limit)
        gone: list[WentOffline] = []
        for dead in expired:
            if dead.channel is Channel.PRESENCE:
                went = (await self.disconnect(dead.user, dead.connection_id)).result
                if went is not None:
                    gone.append(went)
            else:
                await self._presence.remove(dead.user, dead.connection_id, dead.channel)
        return Outcome(gone)
