"""Presence held in this process: the default with one server node."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime

from chat_server.application.ports import Channel, ExpiredConnection
from chat_server.domain.model import UserRef


class InMemoryPresenceRegistry:
    def __init__(self) -> None:
        self._connections: dict[tuple[UserRef, Channel], set[str]] = {}
        self._announced: set[UserRef] = set()
        self._waiters: defaultdict[tuple[UserRef, Channel], list[asyncio.Future[None]]] = (
            defaultdict(list)
        )

    async def add(self, user: UserRef, connection_id: str, channel: Channel) -> bool:
        key = (user, channel)
        connections = self._connections.get(key)
        if connections is None:
            self._connections[key] = {connection_id}
            for waiter in self._waiters.pop(key, ()):
                if not waiter.done():
                    waiter.set_result(None)
            return True
        connections.add(connection_id)
        return False

    async def remove(self, user: UserRef, connection_id: str, channel: Channel) -> bool:
        key = (user, channel)
        connections = self._connections.get(key)
        if connections is None or connection_id not in connections:
            return False
        connections.discard(connection_id)
        if connections:
            return False
        del self._connections[key]
        return True

    async def is_connected(self, user: UserRef, channel: Channel) -> bool:
        return (user, channel) in self._connections

    async def holds_locally(self, user: UserRef, channel: Channel) -> bool:
        return (user, channel) in self._connections  # one node: every connection is ours

    async def count(self, user: UserRef, channel: Channel) -> int:
        return len(self._connections.get((user, channel), ()))

    async def announce(self, user: UserRef, online: bool) -> bool:
        if online == (user in self._announced):
            return False
        if online:
            self._announced.add(user)
        else:
            self._announced.discard(user)
        return True

    async def wait_connected(self, user: UserRef, channel: Channel, timeout: float) -> bool:
        key = (user, channel)
        if key in self._connections:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[key].append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[key]

    async def expired(self, limit: int) -> list[ExpiredConnection]:
        return []  # one node: every connection is this process's own


class InMemoryLastSeenRepository:
    def __init__(self) -> None:
        self._last_seen: dict[UserRef, datetime] = {}

    async def set(self, user: UserRef, at: datetime) -> None:
        self._last_seen[user] = at

    async def get(self, user: UserRef) -> datetime | None:
        return self._last_seen.get(user)

    async def forget(self, user: UserRef) -> None:
        self._last_seen.pop(user, None)
