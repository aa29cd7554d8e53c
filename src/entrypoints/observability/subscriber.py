"""The metrics subscriber of the event publisher: what happened, counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server.application.events import (
    EVENT_TYPES,
    ChatOpened,
    Event,
    MessageStored,
    PresenceChanged,
    TypingChanged,
)
from chat_server.entrypoints.observability.metrics import ServiceMetrics

# Label values, computed once per event type.
_TYPE_NAMES = {kind: kind.__name__ for kind in EVENT_TYPES}


class MetricsSubscriber:
    """Counts every event by type (``PresenceChanged`` and ``TypingChanged`` by their
    direction too), and the messages stored by sender type (``system`` for the
    marketplace's own). Off (handling nothing) without metrics."""

    def __init__(self, metrics: ServiceMetrics | None) -> None:
        self._metrics = metrics
        self.handles: frozenset[type] = frozenset() if metrics is None else frozenset(EVENT_TYPES)

    async def deliver(self, event: Event, context: object | None) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        name = _TYPE_NAMES[type(event)]
        match event:
            case PresenceChanged(online=online):
                name += ".online" if online else ".offline"
            case TypingChanged(typing=typing):
                name += ".start" if typing else ".stop"
            case MessageStored(message=message) | ChatOpened(message=message) if message:
                side = message.sender_side
                metrics.messages_stored.inc(("system",) if side is None else (side.value,))
        metrics.domain_events.inc((name,))


if TYPE_CHECKING:  # mypy proves here that it is a subscriber of the publisher
    from chat_server.application.bus import Subscriber

    _conforms: Subscriber = MetricsSubscriber(None)
