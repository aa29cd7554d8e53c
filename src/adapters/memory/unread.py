"""Per-user unread totals in this process."""

from __future__ import annotations

from chat_server.application.ports import UnreadTotals
from chat_server.domain.model import UserRef


class InMemoryUnreadCounters:
    def __init__(self) -> None:
        # user -> chat id -> (unread, revision of the chat it was copied from)
        self._copies: dict[UserRef, dict[str, tuple[int, int]]] = {}

    async def record(self, user: UserRef, chat_id: str, unread: int, revision: int) -> None:
        copies = self._copies.setdefault(user, {})
        kept = copies.get(chat_id)
        if kept is None or kept[1] < revision:
            copies[chat_id] = (unread, revision)

    async def totals(self, user: UserRef) -> UnreadTotals:
        copies = self._copies.get(user, {}).values()
        return UnreadTotals(sum(n for n, _ in copies), sum(1 for n, _ in copies if n > 0))

    async def forget(self, user: UserRef) -> None:
        self._copies.pop(user, None)
