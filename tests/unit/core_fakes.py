"""Fakes for the core: deterministic time and ids, a subscriber that records every event,
and every use case wired on the in-memory adapters (the same adapters the service runs by
default), each storage call yielding to the event loop first so that concurrent use cases
really interleave, as they do on MongoDB."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from chat_server.adapters.memory import (
    InMemoryChatRepository,
    InMemoryLastSeenRepository,
    InMemoryMessageRepository,
    InMemoryPresenceRegistry,
    InMemoryTypingThrottle,
)
from chat_server.adapters.memory.directory import (
    InMemoryProductRepository,
    InMemoryProfileRepository,
)
from chat_server.adapters.memory.unread import InMemoryUnreadCounters
from chat_server.application.bus import EventPublisher
from chat_server.application.events import EVENT_TYPES, Event, Outcome
from chat_server.application.use_cases import (
    Caller,
    ChatSessions,
    CheckOnlinePresenceHandler,
    DeleteMessageHandler,
    GetMessagesHandler,
    GetUserChatsHandler,
    JoinChatHandler,
    MarkAsReadHandler,
    PresenceTracker,
    ReadMarker,
    SendMessageHandler,
    SignalTypingHandler,
    WentOffline,
)
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.domain.model import UserRef, UserType


class FakeClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float = 1.0) -> None:
        self.at += timedelta(seconds=seconds)


class SequentialIds:
    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new_id(self) -> str:
        return f"{next(self._next):024x}"


class Yielding:
    """An adapter whose every coroutine method first yields to the event loop (a storage
    round trip), so that two use cases run at once interleave at each storage call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        async def yielding(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return await attribute(*args, **kwargs)

        return yielding


class RecordingSubscriber:
    """Sees every event, in order, with the context it was published with."""

    handles = frozenset(EVENT_TYPES)

    def __init__(self) -> None:
        self.published: list[Event] = []

    async def deliver(self, event: Event, context: object | None) -> None:
        self.published.append(event)

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.published if isinstance(e, kind)]

    def clear(self) -> None:
        self.published.clear()


def running(publisher: EventPublisher, handler: Callable[[Any], Awaitable[Any]]
            ) -> Callable[[Any], Awaitable[Any]]:
    """What a driving adapter does: run the use case, hand its events to the publisher,
    answer with the result."""

    async def run(command: Any) -> Any:
        outcome = await handler(command)
        if isinstance(outcome, Outcome):
            await publisher.publish(outcome.events)
            return outcome.result
        return outcome

    return run


@attrs.define
class Core:
    chats: InMemoryChatRepository
    messages: InMemoryMessageRepository
    presence: InMemoryPresenceRegistry
    last_seen: InMemoryLastSeenRepository
    notifier: RecordingSubscriber
    publisher: EventPublisher
    clock: FakeClock
    ids: SequentialIds
    throttle_clock: list[float]
    send: Callable[[Any], Awaitable[Any]]
    join: Callable[[Any], Awaitable[Any]]
    mark_read: Callable[[Any], Awaitable[Any]]
    delete: Callable[[Any], Awaitable[Any]]
    typing: Callable[[Any], Awaitable[Any]]
    user_chats: GetUserChatsHandler
    get_messages: GetMessagesHandler
    check_presence: CheckOnlinePresenceHandler
    tracker: PresenceTracker
    sessions: ChatSessions
    send_handler: SendMessageHandler
    counters: InMemoryUnreadCounters
    profiles: InMemoryProfileRepository
    products: InMemoryProductRepository
    display: TrustedDisplay

    async def connect(self, user: UserRef, connection_id: str) -> None:
        await self.publisher.publish((await self.tracker.connect(user, connection_id)).events)

    async def disconnect(self, user: UserRef, connection_id: str, settle: bool = True
                         ) -> WentOffline | None:
        """The last connection closing; ``settle``: the offline delay passed at once."""
        went = (await self.tracker.disconnect(user, connection_id)).result
        if went is not None and settle:
            await self.publisher.publish((await self.tracker.settle(went)).events)
        return went


def build_core(chats: Any = None, messages: Any = None) -> Core:
    memory_chats, memory_messages = InMemoryChatRepository(), InMemoryMessageRepository()
    chats = chats or Yielding(memory_chats)
    messages = messages or Yielding(memory_messages)
    presence, last_seen = InMemoryPresenceRegistry(), InMemoryLastSeenRepository()
    recorder, clock, ids = RecordingSubscriber(), FakeClock(), SequentialIds()
    publisher = EventPublisher([recorder])
    throttle_clock = [0.0]
    throttle = InMemoryTypingThrottle(2.0, monotonic=lambda: throttle_clock[0])
    counters = InMemoryUnreadCounters()
    profiles, products = InMemoryProfileRepository(), InMemoryProductRepository()
    display = TrustedDisplay(profiles=profiles, products=products)
    marker = ReadMarker(chats=chats, messages=messages, clock=clock, counters=counters)
    user_chats = GetUserChatsHandler(chats=chats, messages=messages, display=display,
                                     counters=counters)
    send = SendMessageHandler(chats=chats, messages=messages, presence=presence, clock=clock,
                              ids=ids, counters=counters, display=display)
    return Core(
        chats=memory_chats, messages=memory_messages, presence=presence, last_seen=last_seen,
        notifier=recorder, publisher=publisher, clock=clock, ids=ids,
        throttle_clock=throttle_clock,
        send=running(publisher, send),
        join=running(publisher, JoinChatHandler(chats=chats, messages=messages, marker=marker,
                                                display=display)),
        mark_read=running(publisher, MarkAsReadHandler(chats=chats, marker=marker)),
        delete=running(publisher, DeleteMessageHandler(chats=chats, messages=messages,
                                                       clock=clock, counters=counters)),
        typing=running(publisher, SignalTypingHandler(chats=chats, throttle=throttle)),
        user_chats=user_chats,
        get_messages=GetMessagesHandler(chats=chats, messages=messages),
        check_presence=CheckOnlinePresenceHandler(chats=chats, presence=presence,
                                                  last_seen=last_seen),
        tracker=PresenceTracker(chats=chats, presence=presence, last_seen=last_seen,
                                clock=clock),
        sessions=ChatSessions(messages=messages, presence=presence, clock=clock,
                              user_chats=user_chats, grace_seconds=0.05),
        send_handler=send,
        counters=counters, profiles=profiles, products=products, display=display,
    )


@pytest.fixture
def core() -> Core:
    return build_core()


CUSTOMER = UserRef(UserType.CUSTOMER, 1)
VENDOR = UserRef(UserType.VENDOR, 2)


def caller(user: UserRef, connection: str = "sid-1") -> Caller:
    return Caller(user, connection)
