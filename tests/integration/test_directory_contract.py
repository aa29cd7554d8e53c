"""One contract suite for trusted profiles and products and the per-user unread totals, on
memory and MongoDB."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import pytest_asyncio
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.memory.directory import (
    InMemoryProductRepository,
    InMemoryProfileRepository,
)
from chat_server.adapters.memory.unread import InMemoryUnreadCounters
from chat_server.adapters.mongo import create_mongo_client, ensure_indexes
from chat_server.adapters.mongo.directory import MongoProductRepository, MongoProfileRepository
from chat_server.adapters.mongo.unread import MongoUnreadCounters
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.application.ports import (
    ProductRepository,
    ProfileRepository,
    UnreadCounters,
    UnreadTotals,
)
from chat_server.domain.directory import Product, Profile
from chat_server.domain.model import UserRef, UserType

AT = datetime(2026, 6, 7, 8, 9, 10, 123000, tzinfo=UTC)
IDS = ObjectIdGenerator()
_users = itertools.count(5000)


def someone(user_type: UserType = UserType.VENDOR) -> UserRef:
    return UserRef(user_type, next(_users))


@attrs.frozen
class Directory:
    profiles: ProfileRepository
    products: ProductRepository
    unread: UnreadCounters


@pytest_asyncio.fixture
async def mongo_directory(mongo_url: str, mongo_database_name: str) -> AsyncIterator[Directory]:
    client: AsyncIOMotorClient[Any] = create_mongo_client(mongo_url)
    db = client[mongo_database_name]
    await ensure_indexes(db)
    yield Directory(MongoProfileRepository(db), MongoProductRepository(db),
                    MongoUnreadCounters(db))
    await client.drop_database(mongo_database_name)
    client.close()


@pytest.fixture(params=["memory", "mongo"])
def directory(request: pytest.FixtureRequest) -> Directory:
    if request.param == "memory":
        return Directory(InMemoryProfileRepository(), InMemoryProductRepository(),
                         InMemoryUnreadCounters())
    mongo: Directory = request.getfixturevalue("mongo_directory")
    return mongo


async def test_a_profile_reads_back_is_replaced_and_deleted(directory: Directory):
    user = someone()
    assert await directory.profiles.get(user) is None
    first = Profile(user, "Lights", "https://cdn.example/l.png", AT)
    await directory.profiles.put(first)
    assert await directory.profiles.get(user) == first
    second = Profile(user, "Lights & Co", None, AT)
    await directory.profiles.put(second)
    assert await directory.profiles.get(user) == second
    other = UserRef(UserType.CUSTOMER, user.id)  # the same number, another user
    assert await directory.profiles.get(other) is None
    await directory.profiles.delete(user)
    await directory.profiles.delete(user)
    assert await directory.profiles.get(user) is None


async def test_profiles_and_products_are_looked_up_together(directory: Directory):
    users = [someone(), someone(UserType.CUSTOMER), someone()]
    for user in users[:2]:
        await directory.profiles.put(Profile(user, f"n{user.id}", None, AT))
    found = await directory.profiles.get_many([*users, users[0]])
    assert set(found) == set(users[:2]) and found[users[1]].name == f"n{users[1].id}"
    assert await directory.profiles.get_many([]) == {}
    product = Product(f"p-{IDS.new_id()}", "Lamp", 19.5, None, AT)
    await directory.products.put(product)
    assert await directory.products.get(product.product_id) == product
    assert await directory.products.get_many([product.product_id, "none"]) == {
        product.product_id: product}
    await directory.products.put(attrs.evolve(product, price="18.00"))
    assert (await directory.products.get(product.product_id)).price == "18.00"  # type: ignore[union-attr]


async def test_unread_totals_keep_the_latest_revision_of_each_chat(directory: Directory):
    user = someone()
    chat_a, chat_b = IDS.new_id(), IDS.new_id()
    assert await directory.unread.totals(user) == UnreadTotals(0, 0)
    await directory.unread.record(user, chat_a, 2, 5)
    await directory.unread.record(user, chat_b, 1, 1)
    assert await directory.unread.totals(user) == UnreadTotals(3, 2)
    await directory.unread.record(user, chat_a, 7, 4)  # an older copy, arriving late
    await directory.unread.record(user, chat_a, 2, 5)  # a repeat
    assert await directory.unread.totals(user) == UnreadTotals(3, 2)
    await directory.unread.record(user, chat_a, 0, 6)  # read
    assert await directory.unread.totals(user) == UnreadTotals(1, 1)
    await directory.unread.forget(user)
    assert await directory.unread.totals(user) == UnreadTotals(0, 0)


async def test_concurrent_copies_end_on_the_latest_revision(directory: Directory):
    user, chat = someone(), IDS.new_id()
    await asyncio.gather(*(directory.unread.record(user, chat, n, n) for n in range(20)))
    assert await directory.unread.totals(user) == UnreadTotals(19, 1)
