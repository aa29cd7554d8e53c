"""Delivery confirmations, batched: what the client manager wrote to a recipient's socket
for a message that awaited delivery becomes one ``ConfirmDeliveries`` per round.

``add`` never waits: the pair is queued (at most ``limit`` of them; past that one is
dropped and counted, and the message stays offered at the next connect, a repeat rather
than a loss) and a flush task, which exists only while there is something to confirm,
hands everything queued since its last round to the use case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from chat_server.application.use_cases.delivery import ConfirmDeliveries, ConfirmDeliveriesHandler
from chat_server.domain.errors import StorageUnavailable
from chat_server.domain.model import UserRef
from chat_server.entrypoints.socketio import wire

logger = logging.getLogger("chat_server.gateway")

CONFIRMATIONS_LIMIT = 100_000


class DeliveryConfirmations:
    def __init__(self, confirm: ConfirmDeliveriesHandler, limit: int = CONFIRMATIONS_LIMIT
                 ) -> None:
        self._confirm = confirm
        self._limit = limit
        self._queued: defaultdict[UserRef, list[str]] = defaultdict(list)
        self._count = 0
        self._flusher: asyncio.Task[None] | None = None
        self.dropped = 0

    def add(self, room: str, message_id: str) -> None:
        user = wire.user_of_room(room)
        if user is None:
            return
        if self._count >= self._limit:
            self.dropped += 1
            return
        self._queued[user].append(message_id)
        self._count += 1
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), name="delivery-confirmations")

    async def _flush(self) -> None:
        try:
            while self._queued:
                await asyncio.sleep(0)  # let the rest of this round's deliveries join in
                batch = {user: tuple(ids) for user, ids in self._queued.items()}
                self._queued.clear()
                self._count = 0
                try:
                    await self._confirm(ConfirmDeliveries(batch))
                except StorageUnavailable as exc:
                    logger.warning("confirming %d deliveries: %s", len(batch), exc)
                except Exception:  # the messages stay offered at the next connect
                    logger.exception("confirming %d deliveries failed", len(batch))
        finally:
            self._flusher = None

    async def close(self) -> None:
        """Confirms what is queued, then stops."""
        flusher = self._flusher
        if flusher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
