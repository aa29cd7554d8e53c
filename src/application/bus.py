"""The one publisher of the application: events to the subscribers of their type.

Subscribers are outbound ports (``Subscriber``). The caller of a use case hands the events
of its outcome to ``EventPublisher.publish``; each subscriber receives the events of the
types it ``handles``, in order. ``context`` is opaque here: a driving adapter may pass its
own value (the Socket.IO entrypoint passes the connection that asked, so that its notifier
does not echo to it); other subscribers ignore it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from chat_server.application.events import EVENT_TYPES, Event

logger = logging.getLogger("chat_server.events")


class Subscriber(Protocol):
    """Acts on events, after they happened.

    ``handles`` names the event types it wants. ``deliver`` must not fail for a reason that
    concerns one recipient only (a broken socket); an exception means the event could not
    be taken care of at all (e.g. a durable store is down) and reaches the caller.
    """

    @property
    def handles(self) -> frozenset[type]: ...

    async def deliver(self, event: Event, context: object | None) -> None: ...


class EventPublisher:
    """Subscribers per event type, called in the order they were given.

    Every subscriber of an event runs even when an earlier one failed; the first failure is
    then raised, so the caller answers with it (the work is stored: a retry is safe).
    """

    def __init__(self, subscribers: Iterable[Subscriber]) -> None:
        self._subscribers = tuple(subscribers)
        self._by_type: dict[type, tuple[Subscriber, ...]] = {
            kind: tuple(s for s in self._subscribers if kind in s.handles)
            for kind in EVENT_TYPES
        }

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        return self._subscribers

    async def publish(self, events: Sequence[Event], context: object | None = None) -> None:
        failure: BaseException | None = None
        for event in events:
            for subscriber in self._by_type.get(type(event), ()):
                try:
                    await subscriber.deliver(event, context)
                except Exception as exc:
                    if failure is None:
                        failure = exc
                    else:
                        logger.exception("subscriber %r failed on %s", subscriber,
                                         type(event).__name__)
        if failure is not None:
            raise failure
