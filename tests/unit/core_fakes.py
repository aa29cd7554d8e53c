"""Fakes for the core: deterministic time and ids, a notifier that records, and every use
case wired on the in-memory adapters (the same adapters the service runs by default)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from chat_server.adapters.memory import (
    InMemoryChatRepository,
    InMemoryLastSeenRepository,
    InMemoryMessageRepository,
    InMemoryPresenceRegistry,
    InMemoryTypingThrottle,
)
from chat_server.application.notifications import Notification
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
)
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


class RecordingNotifier:
    def __init__(self) -> None:
        self.published: list[tuple[Notification, str | None]] = []

    async def publish(self, notification: Notification, skip_connection: str | None = None
                      ) -> None:
        self.published.append((notification, skip_connection))

    def of(self, kind: type) -> list[Notification]:
        return [n for n, _ in self.published if isinstance(n, kind)]

    def clear(self) -> None:
        self.published.clear()


@attrs.define
class Core:
    chats: InMemoryChatRepository
    messages: InMemoryMessageRepository
    presence: InMemoryPresenceRegistry
    last_seen: InMemoryLastSeenRepository
    notifier: RecordingNotifier
    clock: FakeClock
    throttle_clock: list[float]
    send: SendMessageHandler
    join: JoinChatHandler
    mark_read: MarkAsReadHandler
    delete: DeleteMessageHandler
    typing: SignalTypingHandler
    user_chats: GetUserChatsHandler
    get_messages: GetMessagesHandler
    check_presence: CheckOnlinePresenceHandler
    tracker: PresenceTracker
    sessions: ChatSessions


@pytest.fixture
def core() -> Core:
    chats, messages = InMemoryChatRepository(), InMemoryMessageRepository()
    presence, last_seen = InMemoryPresenceRegistry(), InMemoryLastSeenRepository()
    notifier, clock, ids = RecordingNotifier(), FakeClock(), SequentialIds()
    throttle_clock = [0.0]
    throttle = InMemoryTypingThrottle(2.0, monotonic=lambda: throttle_clock[0])
    marker = ReadMarker(chats, messages, notifier, clock)
    user_chats = GetUserChatsHandler(chats, messages)
    return Core(
        chats=chats, messages=messages, presence=presence, last_seen=last_seen,
        notifier=notifier, clock=clock, throttle_clock=throttle_clock,
        send=SendMessageHandler(chats, messages, presence, notifier, clock, ids),
        join=JoinChatHandler(chats, messages, marker),
        mark_read=MarkAsReadHandler(chats, marker),
        delete=DeleteMessageHandler(chats, messages, notifier, clock),
        typing=SignalTypingHandler(chats, throttle, notifier),
        user_chats=user_chats,
        get_messages=GetMessagesHandler(chats, messages),
        check_presence=CheckOnlinePresenceHandler(chats, presence, last_seen),
        tracker=PresenceTracker(chats, presence, last_seen, notifier, clock),
        sessions=ChatSessions(messages, presence, clock, user_chats, grace_seconds=0.05),
    )


CUSTOMER = UserRef(UserType.CUSTOMER, 1)
VENDOR = UserRef(UserType.VENDOR, 2)


def caller(user: UserRef, acked: bool = False, connection: str = "sid-1") -> Caller:
    return Caller(user, connection, acked)
