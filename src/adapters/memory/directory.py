"""Trusted profiles and products in this process."""

from __future__ import annotations

from collections.abc import Sequence

from chat_server.domain.directory import Product, Profile
from chat_server.domain.model import UserRef


class InMemoryProfileRepository:
    def __init__(self) -> None:
        self._profiles: dict[UserRef, Profile] = {}

    async def put(self, profile: Profile) -> None:
        self._profiles[profile.user] = profile

    async def get(self, user: UserRef) -> Profile | None:
        return self._profiles.get(user)

    async def get_many(self, users: Sequence[UserRef]) -> dict[UserRef, Profile]:
        return {u: p for u in users if (p := self._profiles.get(u)) is not None}

    async def delete(self, user: UserRef) -> None:
        self._profiles.pop(user, None)


class InMemoryProductRepository:
    def __init__(self) -> None:
        self._products: dict[str, Product] = {}

    async def put(self, product: Product) -> None:
        self._products[product.product_id] = product

    async def get(self, product_id: str) -> Product | None:
        return self._products.get(product_id)

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        return {i: p for i in product_ids if (p := self._products.get(i)) is not None}
