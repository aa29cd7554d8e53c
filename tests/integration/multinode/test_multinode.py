"""Two (and three) real ``chat-server`` processes sharing MongoDB and Redis: users on
different nodes chat as if they were on one (issue: several server nodes)."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import media_corpus as corpus
import pytest
from cluster_support import LEASE_S, node_env, running_nodes
from redis_support import RedisServer
from service_support import (
    Client,
    Server,
    api,
    fetch,
    http_json,
    new_id,
    upload,
)


@pytest.fixture(scope="module")
def cluster(mongo_url: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[dict[str, str], list[Server]]]:
    yield from running_nodes(mongo_url, redis_server.url, tmp_path_factory.mktemp("nodes"),
                             "multinode", 2)


async def test_messages_receipts_deletes_and_typing_cross_nodes(cluster: Any, on: Any):
    _, (a, b) = cluster
    customer = await on(a, "customer")
    vendor = await on(b, "vendor")
    vendor_phone = await on(a, "vendor", vendor.user_id)
    opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                 "productId": "p", "text": "hi"})
    chat_id = opened["data"]["id"]
    for device in (vendor, vendor_phone):
        assert (await device.next("newChat"))["data"]["id"] == chat_id
    reply = await vendor.call("sendMessage", {"chatId": chat_id, "text": "hello"})
    assert (await customer.next("receiveMessage")) == reply
    assert (await vendor_phone.next("receiveMessage")) == reply
    assert reply["data"]["recipientOnline"] is True and reply["data"]["deliveredAt"]
    loaded = await customer.call("joinChat", {"chatId": chat_id})
    assert loaded["data"]["unreadCount"] == 0
    receipt = await vendor.next("updateReadReceipts")
    assert receipt["data"]["readerId"] == customer.user_id
    await customer.call("typing", {"chatId": chat_id})
    assert (await vendor_phone.next("userTyping"))["data"]["userId"] == customer.user_id
    deleted = await vendor.call("deleteMessage", {"chatId": chat_id,
                                                  "messageId": reply["data"]["id"]})
    assert (await customer.next("messageDeleted")) == deleted


async def test_edits_blocks_and_system_messages_cross_nodes(cluster: Any, on: Any):
    _, (a, b) = cluster
    customer = await on(a, "customer")
    vendor = await on(b, "vendor")
    opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                 "productId": "p", "text": "helo"})
    chat_id = opened["data"]["id"]
    await vendor.next("newChat")
    edited = await customer.call("editMessage", {"chatId": chat_id, "text": "hello",
                                                 "messageId": opened["data"]["messages"][0]["id"]})
    assert (await vendor.next("messageEdited")) == edited
    # A system message posted on node a reaches the vendor on node b.
    status, posted = await api(a.url, "POST", f"/api/v1/chats/{chat_id}/messages",
                               {"text": "Order shipped"})
    assert status == 201
    for device in (customer, vendor):
        got = await device.next("receiveMessage", where=lambda d: d["data"]["senderType"] == "SYSTEM")
        assert got["data"]["id"] == posted["data"]["id"]
    # A block made on node b holds for sends arriving on node a.
    await vendor.call("blockUser", {"userId": customer.user_id, "userType": "customer"})
    assert (await customer.next("chatUpdated"))["data"]["blockedBy"] is True
    refused = await customer.call("sendMessage", {"chatId": chat_id, "text": "hello?"})
    assert refused["statusCode"] == 403


async def test_presence_counts_devices_on_every_node(cluster: Any, on: Any):
    _, (a, b) = cluster
    vendor = await on(a, "vendor")
    customer_a = await on(a, "customer")
    await customer_a.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                          "text": "hi"})
    customer_b = await on(b, "customer", customer_a.user_id)
    about_customer = lambda d: d["data"]["userId"] == customer_a.user_id  # noqa: E731
    await vendor.nothing("userIsOnline", where=about_customer)
    await customer_a.close()
    await vendor.nothing("userIsOffline", within=0.5)
    status = await vendor.call("checkOnlinePresence", {"userId": customer_a.user_id,
                                                       "userType": "customer"})
    assert status["data"]["status"] is True
    await customer_b.close()
    offline = await vendor.next("userIsOffline", where=about_customer)
    assert offline["data"]["lastSeen"].endswith("Z")
    again = await on(b, "customer", customer_a.user_id)
    assert again.user_id == customer_a.user_id
    await vendor.next("userIsOnline", where=about_customer)


async def test_a_send_limit_holds_across_nodes(cluster: Any, on: Any):
    _, (a, b) = cluster
    vendor = await on(a, "vendor")
    customer_a = await on(a, "customer")
    customer_b = await on(b, "customer", customer_a.user_id)
    opened = await customer_a.call("sendMessage", {"recipientId": vendor.user_id,
                                                   "productId": "p", "text": "hi"})
    chat_id = opened["data"]["id"]
    sends = [device.call("sendMessage", {"chatId": chat_id, "text": f"n{n}"})
             for n, device in zip(range(16), itertools.cycle((customer_a, customer_b)))]
    codes = [ack["statusCode"] for ack in await asyncio.gather(*sends)]
    # Burst 10 for the user (one spent opening the chat), not 10 per node.
    assert codes.count(200) <= 11 and codes.count(429) >= 5, codes


async def test_a_killed_nodes_users_go_offline_within_the_lease(cluster: Any, on: Any,
                                                                 tmp_path: Path):
    env, (a, b) = cluster
    doomed = Server(env, tmp_path / "node-c.log").start()
    try:
        vendor = await on(a, "vendor")
        gone = await on(doomed, "customer")
        stays = await on(doomed, "customer")
        await on(b, "customer", stays.user_id)  # the second user has a device elsewhere too
        for customer in (gone, stays):
            await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                "productId": "p", "text": "hi"})
        started = time.monotonic()
        doomed.stop(kill=True)
        offline = await vendor.next("userIsOffline", timeout=LEASE_S * 3 + 5,
                                    where=lambda d: d["data"]["userId"] == gone.user_id)
        assert offline["data"]["userType"] == "CUSTOMER"
        assert time.monotonic() - started < LEASE_S * 3 + 5
        await vendor.nothing("userIsOffline", within=0.5,
                             where=lambda d: d["data"]["userId"] == stays.user_id)
        status = await vendor.call("checkOnlinePresence", {"userId": stays.user_id,
                                                           "userType": "customer"})
        assert status["data"]["status"] is True
    finally:
        doomed.stop()


async def test_without_redis_a_node_serves_its_own_and_recovers(
    mongo_url: str, tmp_path: Path
):
    redis = RedisServer(tmp_path).start()
    env = node_env(mongo_url, redis.url, f"redis_outage_{os.getpid()}")
    node = Server(env, tmp_path / "node.log").start()
    try:
        customer = await Client(node.url, "customer", new_id()).connect()
        vendor = await Client(node.url, "vendor", new_id()).connect()
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "hi"})
        redis.stop()
        assert (await asyncio.to_thread(http_json, f"{node.url}/readyz"))[0] == 503
        ack = await customer.call("sendMessage", {"chatId": opened["data"]["id"],
                                                  "text": "still here"})
        assert ack["statusCode"] == 200
        assert (await vendor.next("receiveMessage"))["data"]["text"] == "still here"
        redis.start_on_same_port()
        deadline = time.monotonic() + 10
        while (await asyncio.to_thread(http_json, f"{node.url}/readyz"))[0] != 200:
            assert time.monotonic() < deadline, "readyz did not recover"
            await asyncio.sleep(0.2)
        errors = node.log().count("Redis unavailable")
        assert 1 <= errors <= 4, node.log()[-2000:]  # once per adapter, not per message
        await customer.close()
        await vendor.close()
    finally:
        node.stop()
        redis.stop()


async def test_an_upload_made_on_one_node_is_sent_and_served_by_another(cluster: Any, on: Any):
    """With CHAT_REDIS_URL, media default to GridFS: every node serves every upload."""
    _, (a, b) = cluster
    customer = await on(a, "customer")
    vendor = await on(b, "vendor")
    opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                 "productId": "p", "text": "photo follows"})
    await vendor.next("newChat")
    status, body = await upload(a.url, "customer", customer.user_id, corpus.jpeg(), "x.jpg",
                                "image/jpeg")
    assert status == 201, body
    sent = await customer.call("sendMessage", {"chatId": opened["data"]["id"],
                                               "attachments": [body["data"]["id"]]})
    assert sent["statusCode"] == 200, sent
    [attachment] = (await vendor.next("receiveMessage"))["data"]["attachments"]
    status, content, mime = await fetch(b.url, attachment["url"])
    assert (status, mime) == (200, "image/jpeg") and content[:2] == b"\xff\xd8"
    deleted = await customer.call("deleteMessage", {"chatId": opened["data"]["id"],
                                                    "messageId": sent["data"]["id"]})
    assert deleted["statusCode"] == 200
    assert (await fetch(b.url, attachment["url"]))[0] == 404
