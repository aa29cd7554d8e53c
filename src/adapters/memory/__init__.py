"""In-memory adapters: the embedded default storage, and the fakes of the unit tests.

Each method runs without yielding to the event loop, so every call is atomic, which is
what the ports promise.
"""

from typing import TYPE_CHECKING

from chat_server.adapters.memory.health import InMemoryHealthProbe
from chat_server.adapters.memory.limits import InMemoryRateLimiter, InMemoryTypingThrottle
from chat_server.adapters.memory.outbox import InMemoryOutbox
from chat_server.adapters.memory.presence import (
    InMemoryLastSeenRepository,
    InMemoryPresenceRegistry,
)
from chat_server.adapters.memory.repositories import (
    InMemoryChatRepository,
    InMemoryMessageRepository,
)

__all__ = [
    "InMemoryChatRepository",
    "InMemoryHealthProbe",
    "InMemoryLastSeenRepository",
    "InMemoryMessageRepository",
    "InMemoryOutbox",
    "InMemoryPresenceRegistry",
    "InMemoryRateLimiter",
    "InMemoryTypingThrottle",
]

if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from chat_server.adapters.memory.directory import (
        InMemoryProductRepository,
        InMemoryProfileRepository,
    )
    from chat_server.adapters.memory.reports import InMemoryReportRepository
    from chat_server.adapters.memory.unread import InMemoryUnreadCounters
    from chat_server.application.ports import (
        ChatRepository,
        HealthProbe,
        LastSeenRepository,
        MessageRepository,
        PresenceRegistry,
        ProductRepository,
        ProfileRepository,
        RateLimiter,
        ReportRepository,
        TypingThrottle,
        UnreadCounters,
    )

    def _conforms() -> None:
        chats: ChatRepository = InMemoryChatRepository()
        messages: MessageRepository = InMemoryMessageRepository()
        last_seen: LastSeenRepository = InMemoryLastSeenRepository()
        presence: PresenceRegistry = InMemoryPresenceRegistry()
        limiter: RateLimiter = InMemoryRateLimiter({})
        throttle: TypingThrottle = InMemoryTypingThrottle()
        health: HealthProbe = InMemoryHealthProbe()
        profiles: ProfileRepository = InMemoryProfileRepository()
        products: ProductRepository = InMemoryProductRepository()
        unread: UnreadCounters = InMemoryUnreadCounters()
        del chats, messages, last_seen, presence, limiter, throttle, health
        reports: ReportRepository = InMemoryReportRepository()
        del profiles, products, unread, reports
