"""How chats are shown: the backend's trusted profiles and products over what clients sent,
and each user's unread totals kept in step with the chats' counters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from chat_server.application.ports import ProductRepository, ProfileRepository, UnreadCounters
from chat_server.domain.directory import overlaid
from chat_server.domain.model import Chat, UserRef


class TrustedDisplay:
    """Chats as every Chat object shows them. One lookup of profiles and one of products
    for any number of chats."""

    def __init__(self, *, profiles: ProfileRepository, products: ProductRepository) -> None:
        self._profiles = profiles
        self._products = products

    async def show(self, chats: Sequence[Chat]) -> list[Chat]:
        if not chats:
            return []
        profiles = await self._profiles.get_many([u for c in chats for u in c.participants])
        products = await self._products.get_many([c.product_id for c in chats])
        return [
            attrs.evolve(chat, snapshot=overlaid(
                chat.snapshot, profiles.get(chat.customer), profiles.get(chat.vendor),
                products.get(chat.product_id)))
            for chat in chats
        ]

    async def show_one(self, chat: Chat) -> Chat:
        return (await self.show([chat]))[0]


async def record_unread(counters: UnreadCounters, chat: Chat, users: Iterable[UserRef]) -> None:
    """Copy the chat's unread counts of ``users`` to their totals (idempotent: a retry or a
    late copy of an older revision changes nothing)."""
    for user in users:
        await counters.record(user, chat.id, chat.unread_for(user), chat.revision)
