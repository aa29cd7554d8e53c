"""Cross-node delivery with real processes: emits go only to the nodes that hold their
recipients, a delivery made through another node is confirmed, and nothing is lost or
repeated when a node dies or Redis restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from bson import ObjectId
from cluster_support import node_env, running_nodes
from motor.motor_asyncio import AsyncIOMotorClient
from redis_support import RedisServer
from service_support import Client, Server, new_id


@pytest.fixture(scope="module")
def trio(mongo_url: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[dict[str, str], list[Server]]]:
    yield from running_nodes(mongo_url, redis_server.url, tmp_path_factory.mktemp("crossnodes"),
                             "crossnode", 3)


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def node_of(redis: aioredis.Redis, client: Client) -> str:
    """The node id that holds ``client``'s /chat connection (the user-to-node map)."""
    members = await redis.zrange(f"chat:route:chat:{client.user_type}:{client.user_id}", 0, -1)
    nodes = {member.split("|", 1)[0] for member in members}
    assert len(nodes) == 1, members
    return nodes.pop()


async def pending_for(env: dict[str, str], message_id: str) -> list[str]:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(env["CHAT_MONGO_URL"])
    try:
        doc = await client[env["CHAT_MONGO_DB"]]["messages"].find_one(
            {"_id": ObjectId(message_id)})
    finally:
        client.close()
    assert doc is not None
    return list(doc.get("pending_for") or [])


async def until_confirmed(env: dict[str, str], message_ids: list[str], timeout: float = 10
                          ) -> None:
    deadline = time.monotonic() + timeout
    for message_id in message_ids:
        while await pending_for(env, message_id):
            assert time.monotonic() < deadline, f"{message_id} was never confirmed"
            await asyncio.sleep(0.05)


async def test_an_emit_is_published_only_to_the_nodes_holding_its_recipients(
    trio: Any, on: Any, redis: aioredis.Redis
):
    _, (a, b, c) = trio
    customer = await on(a, "customer")
    vendor = await on(b, "vendor")
    await on(c, "customer")  # a bystander on the third node
    node_b = await node_of(redis, vendor)
    node_a = await node_of(redis, customer)
    watcher = redis.pubsub()
    await watcher.psubscribe("chat:node:*")
    try:
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "m0"})
        chat_id = opened["data"]["id"]
        sends = [customer.call("sendMessage", {"chatId": chat_id, "text": f"m{n}"})
                 for n in range(1, 9)]
        acks = await asyncio.gather(*sends)
        assert all(ack["statusCode"] == 200 for ack in acks)
        for n in range(1, 9):
            await vendor.next("receiveMessage", where=lambda d, n=n: d["data"]["text"] == f"m{n}")
        # One round trip on the vendor's node afterwards: whatever was published came first.
        await vendor.call("typing", {"chatId": chat_id})
        channels: list[str] = []
        payloads = 0
        while (message := await watcher.get_message(timeout=0.2)) is not None:
            if message["type"] == "pmessage":
                channels.append(message["channel"])
                payloads += len(orjson.loads(message["data"]))
    finally:
        await watcher.aclose()
    # Everything the customer's sends produced went to the vendor's node, and nowhere else:
    # not to the sender's own node (delivered there first), not to the bystander's. The
    # vendor's typing went to node a (the customer).
    assert set(channels) <= {f"chat:node:{node_b}", f"chat:node:{node_a}"}, channels
    to_b = [ch for ch in channels if ch == f"chat:node:{node_b}"]
    assert to_b and payloads >= 9
    # Batched: no more bundles than payloads (one bundle per node per round).
    assert len(channels) <= payloads


async def test_a_message_delivered_through_another_node_is_not_offered_again(
    trio: Any, on: Any
):
    env, (a, b, _) = trio
    customer = await on(a, "customer")
    vendor = await on(b, "vendor")
    opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                 "productId": "p", "text": "first"})
    chat_id = opened["data"]["id"]
    first_id = opened["data"]["messages"][0]["id"]
    assert (await vendor.next("newChat"))["data"]["id"] == chat_id
    second = await customer.call("sendMessage", {"chatId": chat_id, "text": "second"})
    got = await vendor.next("receiveMessage")
    assert got["data"]["id"] == second["data"]["id"]
    # Node a held no vendor connection, so the message awaited delivery; node b wrote it
    # to the vendor's socket and confirmed it.
    await until_confirmed(env, [first_id, second["data"]["id"]])
    await vendor.close()
    again = await on(a, "vendor", vendor.user_id)
    offered = again.received("offlineMessages")[-1]["data"]
    assert offered == []


async def test_messages_to_a_killed_nodes_users_reach_them_all_after_they_reconnect(
    trio: Any, on: Any, tmp_path: Path
):
    env, (a, _, _) = trio
    doomed = Server(env, tmp_path / "node-d.log").start()
    try:
        customer = await on(a, "customer")
        vendors = [await on(doomed, "vendor") for _ in range(2)]
        chats = {}
        for vendor in vendors:
            opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                         "productId": "p", "text": "hi"})
            chats[vendor.user_id] = opened["data"]["id"]
            await vendor.next("newChat")
        doomed.stop(kill=True)
        # Their leases still count for about LEASE_S: every send is acked, none can be
        # delivered.
        sent: dict[int, list[str]] = {v.user_id: [] for v in vendors}
        for n in range(3):  # 2 chats opened + 6 sends: within the send burst of 10
            for vendor in vendors:
                ack = await customer.call("sendMessage", {"chatId": chats[vendor.user_id],
                                                          "text": f"while dead {n}"})
                assert ack["statusCode"] == 200
                sent[vendor.user_id].append(ack["data"]["id"])
        for vendor in vendors:
            with contextlib.suppress(Exception):
                await vendor.close()
            back = await on(a, "vendor", vendor.user_id)
            offered = back.received("offlineMessages")[-1]["data"]
            assert [m["id"] for m in offered if m["text"].startswith("while dead")] == \
                sent[vendor.user_id]
    finally:
        doomed.stop()


async def test_after_a_redis_restart_no_message_reaches_a_device_twice(
    mongo_url: str, tmp_path: Path
):
    redis = RedisServer(tmp_path).start()
    env = {**node_env(mongo_url, redis.url, f"crossnode_restart_{os.getpid()}"),
           "CHAT_SEND_RATE": "1000/1s", "CHAT_SEND_BURST": "1000",
           "CHAT_REQUEST_RATE": "1000/1s", "CHAT_REQUEST_BURST": "1000"}
    a = Server(env, tmp_path / "node-a.log").start()
    b = Server(env, tmp_path / "node-b.log").start()
    try:
        customer = await Client(a.url, "customer", new_id()).connect()
        vendor = await Client(b.url, "vendor", new_id()).connect()
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "before"})
        chat_id = opened["data"]["id"]
        await vendor.next("newChat")
        redis.stop()
        redis.start_on_same_port()  # empty: every lease and route is gone
        sent: list[str] = []
        deadline = time.monotonic() + 20
        # Until cross-node delivery is back, sends stay awaiting delivery; after it, they
        # arrive live.
        while True:
            ack = await customer.call("sendMessage", {"chatId": chat_id,
                                                      "text": f"probe {len(sent)}"})
            if ack["statusCode"] == 200:
                sent.append(ack["data"]["id"])
            live = {d["data"]["id"] for d in vendor.received("receiveMessage")}
            if len(live) >= 5:
                break
            assert time.monotonic() < deadline, "cross-node delivery did not come back"
            await asyncio.sleep(0.1)
        for n in range(10):
            ack = await customer.call("sendMessage", {"chatId": chat_id, "text": f"after {n}"})
            sent.append(ack["data"]["id"])
        await vendor.next("receiveMessage", where=lambda d: d["data"]["text"] == "after 9")
        live_ids = [d["data"]["id"] for d in vendor.received("receiveMessage")]
        await until_confirmed(env, [i for i in sent if i in live_ids])
        await vendor.close()
        again = await Client(a.url, "vendor", vendor.user_id).connect()
        offered = [m["id"] for m in again.received("offlineMessages")[-1]["data"]]
        # Every message reached the device once: live, or offered at the next connect.
        assert sorted(live_ids + offered) == sorted(set(live_ids + offered))
        assert set(sent) <= set(live_ids + offered)
        await customer.close()
        await again.close()
    finally:
        a.stop()
        b.stop()
        redis.stop()
