"""The outbox in this process: for one node with in-memory storage. Pending items are lost
when the process stops (docs/webhooks.md says so); use MongoDB to keep them."""

from __future__ import annotations

import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from chat_server.application.outbox import OutboxItem

logger = logging.getLogger("chat_server.webhooks")

DEFAULT_MAX_PENDING = 100_000
# Overflow is reported in one line per this many seconds, with the number dropped.
OVERFLOW_LOG_PERIOD_S = 60.0


@attrs.define
class _Pending:
    item: OutboxItem
    available_at: datetime  # due_at, or the lease's expiry while leased
    owner: str | None = None
    last_error: str | None = None


class InMemoryOutbox:
    """Bounded: beyond ``max_pending`` items the oldest pending one is dropped (a receiver
    down for long enough must not grow the process without bound), with one log line per
    overflow period. Methods do not yield, so each is atomic, as the port requires."""

    def __init__(
        self, max_pending: int = DEFAULT_MAX_PENDING,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._max = max_pending
        self._monotonic = monotonic
        self._items: OrderedDict[str, _Pending] = OrderedDict()  # oldest added first
        self._keys: dict[str, str] = {}
        # (available_at, tie, id); entries made stale by a later change are skipped.
        self._queue: list[tuple[datetime, int, str]] = []
        self._tie = 0
        self._overflow_since: float | None = None
        self._overflow_count = 0

    async def add(self, items: Sequence[OutboxItem]) -> int:
        added = 0
        for item in items:
            if item.id in self._items or (item.key is not None and item.key in self._keys):
                continue
            if len(self._items) >= self._max:
                self._drop_oldest()
            self._items[item.id] = _Pending(item, item.due_at)
            if item.key is not None:
                self._keys[item.key] = item.id
            self._enqueue(item.due_at, item.id)
            added += 1
        return added

    async def claim(
        self, owner: str, now: datetime, limit: int, lease_s: float
    ) -> list[OutboxItem]:
        claimed: list[OutboxItem] = []
        lease_until = now + timedelta(seconds=lease_s)
        while self._queue and len(claimed) < limit and self._queue[0][0] <= now:
            at, _, item_id = heapq.heappop(self._queue)
            pending = self._items.get(item_id)
            if pending is None or pending.available_at != at:
                continue  # completed, or changed since this entry was queued
            pending.owner, pending.available_at = owner, lease_until
            self._enqueue(lease_until, item_id)
            claimed.append(pending.item)
        return claimed

    async def complete(self, item_id: str, owner: str) -> bool:
        return self._remove_held(item_id, owner)

    async def reschedule(
        self, item_id: str, owner: str, due_at: datetime, attempts: int, last_error: str
    ) -> bool:
        pending = self._items.get(item_id)
        if pending is None or pending.owner != owner:
            return False
        pending.item = attrs.evolve(pending.item, due_at=due_at, attempts=attempts)
        pending.owner, pending.available_at, pending.last_error = None, due_at, last_error
        self._enqueue(due_at, item_id)
        return True

    async def give_up(self, item_id: str, owner: str, reason: str) -> bool:
        return self._remove_held(item_id, owner)

    async def pending_count(self) -> int:
        return len(self._items)

    def _remove_held(self, item_id: str, owner: str) -> bool:
        pending = self._items.get(item_id)
        if pending is None or pending.owner != owner:
            return False
        self._forget(item_id)
        return True

    def _forget(self, item_id: str) -> None:
        pending = self._items.pop(item_id)
        if pending.item.key is not None:
            self._keys.pop(pending.item.key, None)

    def _enqueue(self, at: datetime, item_id: str) -> None:
        self._tie += 1
        heapq.heappush(self._queue, (at, self._tie, item_id))
        if len(self._queue) > 2 * len(self._items) + 1024:
            # Stale entries (leases, reschedules, removed items) outnumber live ones:
            # rebuild, so the queue stays proportional to what is pending.
            self._queue = [(p.available_at, i, k) for i, (k, p) in enumerate(self._items.items())]
            heapq.heapify(self._queue)

    def _drop_oldest(self) -> None:
        item_id = next(iter(self._items))
        dropped = self._items[item_id].item
        self._forget(item_id)
        self._overflow_count += 1
        now = self._monotonic()
        if self._overflow_since is None or now - self._overflow_since >= OVERFLOW_LOG_PERIOD_S:
            logger.warning(
                "webhook outbox full (CHAT_WEBHOOK_MAX_PENDING=%d): dropped %d undelivered "
                "item(s) since the last report, the oldest first; latest %s (%s)",
                self._max, self._overflow_count, dropped.id, dropped.kind)
            self._overflow_since, self._overflow_count = now, 0


if TYPE_CHECKING:
    from chat_server.application.outbox import Outbox

    _check: Outbox = InMemoryOutbox()
