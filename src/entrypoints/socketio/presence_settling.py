"""Debounced offline announcements: a user whose last presence connection closed is told
offline only if still offline ``delay_s`` later (``PresenceTracker.settle``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chat_server.application.bus import EventPublisher
from chat_server.application.use_cases import PresenceTracker, WentOffline

logger = logging.getLogger("chat_server.gateway")

SHUTDOWN_SETTLE_S = 5.0


class OfflineSettler:
    """One timer per user who went offline (never per message); at shutdown the pending
    ones are settled at once, so counterparts are told before the node goes."""

    def __init__(self, tracker: PresenceTracker, publisher: EventPublisher, delay_s: float
                 ) -> None:
        self._tracker = tracker
        self._publisher = publisher
        self._delay_s = delay_s
        self._timers: dict[asyncio.TimerHandle, WentOffline] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, gone: WentOffline) -> None:
        if self._delay_s <= 0:
            self._start(gone, None)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            self._start(gone, handle)

        handle = loop.call_later(self._delay_s, fire)
        self._timers[handle] = gone

    def _start(self, gone: WentOffline, handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            self._timers.pop(handle, None)
        task = asyncio.get_running_loop().create_task(self._settle(gone))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, gone: WentOffline) -> None:
        try:
            outcome = await self._tracker.settle(gone)
            await self._publisher.publish(outcome.events)
        except Exception:
            logger.exception("announcing %s offline failed", gone.user)

    @property
    def pending(self) -> int:
        return len(self._timers) + len(self._tasks)

    async def close(self) -> None:
        for handle, gone in list(self._timers.items()):
            handle.cancel()
            self._start(gone, handle)
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True),
                                       SHUTDOWN_SETTLE_S)
