"""The user-to-node map and the fanout script against a real redis-server: a payload goes to
the nodes that hold a live lease of one of its users, once per node, never to its sender."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis
from redis_support import RedisServer

from chat_server.adapters.redis import RedisPresenceRegistry, create_redis
from chat_server.adapters.redis.fanout import (
    NodeFanout,
    create_publisher_connection,
    create_subscriber_connection,
)
from chat_server.application.ports import Channel
from chat_server.domain.model import UserRef, UserType

_ids = itertools.count(10_000)


def someone(kind: UserType = UserType.CUSTOMER) -> UserRef:
    return UserRef(kind, next(_ids))


class Node:
    """One node's registry and fanout; what reaches its channel lands in ``bundles``."""

    def __init__(self, client: aioredis.Redis, url: str, name: str, lease_s: float = 30.0
                 ) -> None:
        self.presence = RedisPresenceRegistry(client, lease_s, node_id=name)
        self.fanout = NodeFanout(create_publisher_connection(url),
                                 create_subscriber_connection(url), name)
        self.bundles: list[list[bytes]] = []
        self.arrived = asyncio.Event()

    async def _received(self, bundle: bytes) -> None:
        self.bundles.append(orjson.loads(bundle))
        self.arrived.set()

    async def start(self) -> Node:
        async def nothing() -> None:
            return None

        await self.fanout.start(self._received, nothing)
        assert self.fanout.subscribed.is_set()
        return self

    def payloads(self) -> list[object]:
        return [p for bundle in self.bundles for p in bundle]


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[list[Node]]:
    client = create_redis(redis_server.url)
    started = [await Node(client, redis_server.url, f"n{n}-{next(_ids)}").start()
               for n in range(3)]
    yield started
    for node in started:
        await node.fanout.stop()
    await client.aclose()


async def round_trip(sender: Node, *others: Node) -> None:
    """A marker published after the payloads under test: once it arrived at every other
    node, anything published before it did too (one connection, FIFO)."""
    marker = someone(UserType.VENDOR)
    for n, node in enumerate(others):
        await node.presence.add(marker, f"marker-{n}", Channel.CHAT)
    for node in others:
        node.arrived.clear()
    sender.fanout.publish(b'"marker"', [(marker, Channel.CHAT)])
    for node in others:
        while "marker" not in node.payloads():
            await asyncio.wait_for(node.arrived.wait(), 5)
            node.arrived.clear()


async def test_a_payload_reaches_only_the_nodes_holding_its_users(nodes: list[Node]):
    a, b, c = nodes
    customer, vendor = someone(), someone(UserType.VENDOR)
    await a.presence.add(customer, "a-1", Channel.CHAT)
    await b.presence.add(vendor, "b-1", Channel.CHAT)
    await b.presence.add(vendor, "b-2", Channel.CHAT)  # two devices on one node: once
    a.fanout.publish(b'{"m":1}', [(customer, Channel.CHAT), (vendor, Channel.CHAT)])
    await round_trip(a, b, c)
    assert b.payloads().count({"m": 1}) == 1
    assert {"m": 1} not in c.payloads()
    assert a.payloads() == []  # never to the sender: it delivered first


async def test_the_channel_of_the_emit_is_the_channel_of_the_lease(nodes: list[Node]):
    a, b, c = nodes
    user = someone()
    await b.presence.add(user, "b-p", Channel.PRESENCE)
    await c.presence.add(user, "c-c", Channel.CHAT)
    a.fanout.publish(b'"to presence"', [(user, Channel.PRESENCE)])
    await round_trip(a, b, c)
    assert "to presence" in b.payloads() and "to presence" not in c.payloads()


async def test_one_round_of_publishes_is_one_bundle_per_node_in_order(nodes: list[Node]):
    a, b, c = nodes
    users = [someone() for _ in range(5)]
    for n, user in enumerate(users):
        await (b if n % 2 else c).presence.add(user, f"conn-{n}", Channel.CHAT)
    before = a.fanout.published_bundles
    for n, user in enumerate(users):  # one round: no await in between
        a.fanout.publish(orjson.dumps({"n": n}), [(user, Channel.CHAT)])
    await round_trip(a, b, c)
    assert [p for p in b.payloads() if p != "marker"] == [{"n": 1}, {"n": 3}]
    assert [p for p in c.payloads() if p != "marker"] == [{"n": 0}, {"n": 2}, {"n": 4}]
    # The five payloads went as one bundle to each node (the marker as two more).
    assert a.fanout.published_bundles - before == 2 + 2


async def test_a_released_or_expired_lease_is_no_longer_a_route(nodes: list[Node],
                                                                redis_server: RedisServer):
    a, b, c = nodes
    gone, expired = someone(), someone()
    await b.presence.add(gone, "b-gone", Channel.CHAT)
    await b.presence.remove(gone, "b-gone", Channel.CHAT)
    client = create_redis(redis_server.url)
    short = RedisPresenceRegistry(client, 0.3, node_id=c.fanout.node_id)
    await short.add(expired, "c-short", Channel.CHAT)
    await asyncio.sleep(0.4)  # the lease's own time must pass: nothing renews it
    a.fanout.publish(b'"late"', [(gone, Channel.CHAT), (expired, Channel.CHAT)])
    await round_trip(a, b, c)
    await client.aclose()
    assert "late" not in b.payloads() and "late" not in c.payloads()
