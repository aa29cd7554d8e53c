"""The ``profiles`` (``_id`` "customer:2") and ``products`` (``_id`` the product id)
collections: trusted display data, one document each, looked up by ``_id`` (``$in`` for a
page of chats: one query whatever its size)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase

from chat_server.adapters.mongo.client import STORAGE_TIMEOUT_S, translate_outages
from chat_server.adapters.mongo.documents import Document, user_key
from chat_server.domain.directory import Product, Profile
from chat_server.domain.model import UserRef, UserType


def _profile_from(doc: Document) -> Profile:
    user_type, _, user_id = doc["_id"].partition(":")
    return Profile(UserRef(UserType(user_type), int(user_id)), doc.get("name"),
                   doc.get("avatar_url"), doc["updated_at"])


def _product_from(doc: Document) -> Product:
    return Product(doc["_id"], doc.get("name"), doc.get("price"), doc.get("image_url"),
                   doc["updated_at"])


class MongoProfileRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s
        self._profiles = db["profiles"]

    @translate_outages
    async def put(self, profile: Profile) -> None:
        await self._profiles.replace_one({"_id": user_key(profile.user)}, {
            "name": profile.name, "avatar_url": profile.avatar_url,
            "updated_at": profile.updated_at,
        }, upsert=True)

    @translate_outages
    async def get(self, user: UserRef) -> Profile | None:
        doc = await self._profiles.find_one({"_id": user_key(user)})
        return None if doc is None else _profile_from(doc)

    @translate_outages
    async def get_many(self, users: Sequence[UserRef]) -> dict[UserRef, Profile]:
        keys = list(dict.fromkeys(user_key(u) for u in users))
        if not keys:
            return {}
        found = [_profile_from(d) async for d in self._profiles.find({"_id": {"$in": keys}})]
        return {p.user: p for p in found}

    @translate_outages
    async def delete(self, user: UserRef) -> None:
        await self._profiles.delete_one({"_id": user_key(user)})


class MongoProductRepository:
    def __init__(self, db: AsyncIOMotorDatabase[Any], timeout_s: float = STORAGE_TIMEOUT_S
                 ) -> None:
        self.timeout_s = timeout_s
        self._products = db["products"]

    @translate_outages
    async def put(self, product: Product) -> None:
        await self._products.replace_one({"_id": product.product_id}, {
            "name": product.name, "price": product.price, "image_url": product.image_url,
            "updated_at": product.updated_at,
        }, upsert=True)

    @translate_outages
    async def get(self, product_id: str) -> Product | None:
        doc = await self._products.find_one({"_id": product_id})
        return None if doc is None else _product_from(doc)

    @translate_outages
    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        keys = list(dict.fromkeys(product_ids))
        if not keys:
            return {}
        found = [_product_from(d) async for d in self._products.find({"_id": {"$in": keys}})]
        return {p.product_id: p for p in found}
