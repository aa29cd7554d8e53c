"""In-memory adapters: the embedded default storage, and the fakes of the unit tests.

Each method runs without yielding to the event loop, so every call is atomic, which is
what the ports promise.
"""

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
