"""The ports of webhook delivery: a durable outbox of pending items, and an HTTP sender.

An ``OutboxItem`` is either a webhook (``kind`` is its type, ``message.created`` ...: it is
POSTed) or an internal job (a ``kind`` with a handler in the dispatcher, such as an
unread check: it is evaluated when due and may add webhook items). The outbox is the only
state of delivery: whatever a node knows about an item in flight, another node can learn
from the outbox, so a node may die at any point without losing an item (at least once).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from chat_server.application.ports import Clock, IdGenerator

ITEM_ID_PREFIX = "evt_"
# Items derived from another one (what a job adds) get uuid5 ids in this namespace, so that
# the same job evaluated twice (a crash between adding and completing) adds the same ids.
_DERIVED_IDS = uuid.UUID("6f1d3c3e-8f57-4b7a-9d0e-1c4b8f2a9e55")


@attrs.frozen
class OutboxItem:
    """One pending delivery or job.

    ``id`` is ``evt_<24 hex>`` (made by the IdGenerator) or ``evt_<uuid>`` (derived); it is
    the webhook's ``id`` and ``X-Chat-Delivery``, what receivers deduplicate on. ``data`` is
    a JSON-able dict (str keys; str, int, float, bool, None, lists and dicts). ``due_at`` is
    when it may next be tried; ``attempts`` counts the tries that failed. ``key``: at most
    one pending item per key (see ``Outbox.add``).
    """

    id: str
    kind: str
    data: Mapping[str, Any]
    created_at: datetime
    due_at: datetime
    attempts: int = 0
    key: str | None = None


def new_outbox_item(
    ids: IdGenerator, clock: Clock, kind: str, data: Mapping[str, Any], *,
    delay_s: float = 0.0, key: str | None = None,
) -> OutboxItem:
    """An item due ``delay_s`` seconds from now, with a fresh ``evt_<24 hex>`` id."""
    now = clock.now()
    return OutboxItem(id=f"{ITEM_ID_PREFIX}{ids.new_id()}", kind=kind, data=dict(data),
                      created_at=now, due_at=now + timedelta(seconds=delay_s), key=key)


def derived_item_id(parent_id: str, index: int = 0) -> str:
    """A stable id for the ``index``-th item made from ``parent_id``: evaluating a job again
    yields the same ids, and ``Outbox.add`` ignores ids it already holds."""
    return f"{ITEM_ID_PREFIX}{uuid.uuid5(_DERIVED_IDS, f'{parent_id}/{index}').hex}"


class Outbox(Protocol):
    """Pending items, durable in MongoDB, shared by every node; each change is one atomic
    step. Every item in the outbox is pending: completing or giving up removes it.

    A claim leases an item to one owner (a node's dispatcher) until ``now + lease_s``.
    ``complete``, ``reschedule`` and ``give_up`` act only while ``owner`` still holds the
    item, i.e. nobody claimed it since (even after the lease ran out, as long as no other
    owner took it); they return ``False`` and change nothing otherwise, since the new owner
    is delivering it again.
    """

    async def add(self, items: Sequence[OutboxItem]) -> int:
        """Store the items; returns how many were new.

        Idempotent by id: adding an id that is pending is a no-op, so a caller may add again
        after a crash. (Once completed, an id is forgotten: adding it again delivers it
        again, which at-least-once allows.) An item with a ``key`` is a no-op while another
        pending item, claimed or not, has that key: at most one pending item per key.
        Of concurrent adds of one id or one key, exactly one stores its item.
        """

    async def claim(
        self, owner: str, now: datetime, limit: int, lease_s: float
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` available items to ``owner`` and return them.

        An item is available when ``due_at <= now`` and it is not leased, or its lease ran
        out (``<= now``). Items come oldest available first: by due time, and an item whose
        lease ran out by the lease's expiry (an adapter may serve a claim from candidates it
        read a moment before, up to 2 s, so an item that became available meanwhile can come
        after them). Each item is taken by ONE atomic update, so of concurrent claims (any
        node) exactly one gets it, and nobody else can claim it before ``now + lease_s``.
        Returned items show the stored ``attempts`` and ``due_at``.
        """

    async def complete(self, item_id: str, owner: str) -> bool:
        """Delivered (or evaluated): remove the item; its key is free again."""

    async def reschedule(
        self, item_id: str, owner: str, due_at: datetime, attempts: int, last_error: str
    ) -> bool:
        """A failed try: release the lease, due again at ``due_at`` with ``attempts``;
        ``last_error`` is kept on the stored item for operators."""

    async def give_up(self, item_id: str, owner: str, reason: str) -> bool:
        """Dropped (a 4xx) or out of time: remove the item, as ``complete`` does.

        Nothing is kept for inspection: the dispatcher logs every item it gives up (id,
        type, attempts, ``reason``) once, and that log line is the record. A dead-letter
        store without a replay tool would only be a second, unbounded log.
        """

    async def pending_count(self) -> int:
        """How many items are pending (claimed or not); for metrics and tests."""


class WebhookTransportError(Exception):
    """The request got no HTTP answer: connection refused or reset, DNS, TLS, timeout.
    The message names the cause in one line (never the URL's credentials)."""


class WebhookSender(Protocol):
    """POSTs one webhook; a session-holding adapter is started and stopped by its owner."""

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url`` with exactly ``headers``; returns the HTTP status.

        Redirects are not followed (a 3xx is returned as is); the response body is read
        at most a few KB and discarded. Raises ``WebhookTransportError`` when no answer came
        within the sender's timeout or the connection failed.
        """
