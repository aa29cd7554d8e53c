"""Webhooks from the running service (SERVER_API.md section 5) to a real HTTP receiver:
what happens in chats reaches the marketplace, signed, at least once, off the message path,
and a seller who is offline is told of an unread lead."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mongo_support import start_secantusdb
from service_support import SECRET, Client, Devices, Server, free_port, new_id
from webhook_receiver import WebhookReceiver

HOOK_SECRET = "webhook-secret-for-the-tests-0123456789abcdef"


def hooked_env(receiver_url: str, **extra: str) -> dict[str, str]:
    return {"CHAT_JWT_SECRET": SECRET, "CHAT_PRESENCE_GRACE_S": "1",
            "CHAT_WEBHOOK_URL": receiver_url, "CHAT_WEBHOOK_SECRET": HOOK_SECRET,
            "CHAT_WEBHOOK_POLL_S": "0.2", "CHAT_UNREAD_NOTIFY_AFTER_S": "1",
            "CHAT_PRESENCE_OFFLINE_DELAY_S": "0.2", "CHAT_WEBHOOK_TIMEOUT_S": "1", **extra}


def body_of(delivery: Any) -> dict[str, Any]:
    signature = dict(part.split("=", 1) for part in delivery.headers["x-chat-signature"].split(","))
    expected = hmac.new(HOOK_SECRET.encode(), f"{signature['t']}.".encode() + delivery.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, signature["v1"]), "a bad signature"
    parsed: dict[str, Any] = json.loads(delivery.body)
    assert delivery.headers["x-chat-event"] == parsed["type"]
    assert delivery.headers["x-chat-delivery"] == parsed["id"]
    return parsed


def of_type(receiver: WebhookReceiver, kind: str) -> list[dict[str, Any]]:
    bodies = [body_of(d) for d in receiver.deliveries]
    return [b for b in bodies if b["type"] == kind]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    started = await WebhookReceiver().start()
    yield started
    await started.stop()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    opened = Devices()
    yield opened
    await opened.close_all()


async def test_what_happens_in_a_chat_reaches_the_marketplace_signed(
    receiver: WebhookReceiver, devices: Devices, tmp_path: Path,
):
    server = Server(hooked_env(receiver.url), tmp_path / "server.log").start()
    try:
        customer = await devices.open(server.url, "customer")
        vendor = await devices.open(server.url, "vendor")
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "bike", "text": "hi"})
        chat_id = opened["data"]["id"]
        reply = await vendor.call("sendMessage", {"chatId": chat_id, "text": "hello"})
        await customer.call("markAsRead", {"chatId": chat_id})
        await vendor.call("deleteMessage", {"chatId": chat_id, "messageId": reply["data"]["id"]})
        await customer.call("reportUser", {"userId": vendor.user_id, "userType": "vendor",
                                           "chatId": chat_id, "reason": "rude"})
        await receiver.wait_for(lambda r: len(of_type(r, "user.reported")) == 1)
        [chat] = of_type(receiver, "chat.created")
        assert chat["data"]["chat"]["id"] == chat_id and chat["data"]["chat"]["messages"] == []
        # Deliveries run concurrently, so their order is not guaranteed (docs/webhooks.md).
        created = sorted(of_type(receiver, "message.created"),
                         key=lambda b: b["data"]["message"]["seq"])
        assert [b["data"]["message"]["text"] for b in created] == ["hi", "hello"]
        assert created[0]["data"]["recipientOnline"] is True
        [read] = of_type(receiver, "message.read")
        assert read["data"]["reader"] == {"id": customer.user_id, "type": "CUSTOMER"}
        assert read["data"]["messageIds"] == [reply["data"]["id"]]
        [deleted] = of_type(receiver, "message.deleted")
        assert deleted["data"] == {"chatId": chat_id, "messageId": reply["data"]["id"]}
        [report] = of_type(receiver, "user.reported")
        assert report["data"]["reported"] == {"id": vendor.user_id, "type": "VENDOR"}
        assert len(set(receiver.ids())) == len(receiver.ids())  # nothing twice
        assert of_type(receiver, "message.unread") == []  # everyone was online
    finally:
        server.stop()


async def test_an_offline_seller_is_told_of_an_unread_lead_once(
    receiver: WebhookReceiver, devices: Devices, tmp_path: Path,
):
    server = Server(hooked_env(receiver.url), tmp_path / "server.log").start()
    try:
        customer = await devices.open(server.url, "customer")
        seller, reader = new_id(), new_id()
        for n in range(3):
            await customer.call("sendMessage", {"recipientId": seller, "productId": "bike",
                                                "text": f"still available? {n}"})
        # Another seller reads in time: nothing for them.
        ack = await customer.call("sendMessage", {"recipientId": reader, "productId": "bike",
                                                  "text": "hello?"})
        quick = await devices.open(server.url, "vendor", reader)
        await quick.call("joinChat", {"chatId": ack["data"]["id"]})
        await receiver.wait_for(lambda r: len(of_type(r, "message.unread")) >= 1, timeout=15)
        await asyncio.sleep(1.5)  # time for a second notice, were there one
        [notice] = of_type(receiver, "message.unread")
        assert notice["data"]["user"] == {"id": seller, "type": "VENDOR"}
        assert notice["data"]["unreadCount"] == 3
        assert [m["text"] for m in notice["data"]["messages"]] == [
            f"still available? {n}" for n in range(3)]
    finally:
        server.stop()


async def test_a_dead_receiver_neither_slows_sends_nor_loses_events(devices: Devices,
                                                                     tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/chat"
    server = Server(hooked_env(url), tmp_path / "server.log").start()
    try:
        customer = await devices.open(server.url, "customer")
        vendor = await devices.open(server.url, "vendor")
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "0"})
        started = time.monotonic()
        for n in range(1, 9):
            ack = await customer.call("sendMessage", {"chatId": opened["data"]["id"],
                                                      "text": str(n)})
            assert ack["statusCode"] == 200
        assert time.monotonic() - started < 5  # no send waited on the dead receiver
        receiver = await WebhookReceiver(port=port).start()
        try:
            await receiver.wait_for(lambda r: len(of_type(r, "message.created")) == 9,
                                    timeout=30)
            texts = sorted(int(b["data"]["message"]["text"])
                           for b in of_type(receiver, "message.created"))
            assert texts == list(range(9))
        finally:
            await receiver.stop()
    finally:
        server.stop()


async def test_a_crash_right_after_acks_loses_no_event(receiver: WebhookReceiver,
                                                       tmp_path: Path):
    mongo_port = free_port()
    mongo = start_secantusdb(tmp_path / "db", mongo_port)
    env = hooked_env(receiver.url, CHAT_STORAGE="mongo", CHAT_MONGO_DB="hooks",
                     CHAT_MONGO_URL=f"mongodb://127.0.0.1:{mongo_port}/?retryWrites=false")
    receiver.fail_next(100_000, 503)  # the first node delivers nothing
    server = Server(env, tmp_path / "first.log").start()
    try:
        customer = await Client(server.url, "customer", new_id()).connect()
        acked = []
        for n in range(5):
            ack = await customer.call("sendMessage", {"recipientId": new_id(), "productId": "p",
                                                      "text": f"lead {n}"})
            assert ack["statusCode"] == 200
            acked.append(ack["data"]["messages"][0]["id"])
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)  # right after the acks
        server.process.wait(10)
        server.process = None
        with contextlib.suppress(TimeoutError):  # its server is gone: do not wait on it
            await asyncio.wait_for(customer.close(), 1)
        receiver._script.clear()
        restarted = time.monotonic()
        server = Server(env, tmp_path / "second.log").start()

        def delivered_after_restart(r: WebhookReceiver) -> set[str]:
            return {body_of(d)["data"]["message"]["id"] for d in r.deliveries
                    if d.arrived > restarted and body_of(d)["type"] == "message.created"}

        # An item leased by the dead node waits for its lease (6 s here) to run out.
        await receiver.wait_for(lambda r: delivered_after_restart(r) >= set(acked), timeout=60)
    finally:
        server.stop()
        mongo.terminate()
        mongo.wait(15)


async def test_two_nodes_deliver_each_event_once(receiver: WebhookReceiver, mongo_url: str,
                                                 redis_server: Any, tmp_path: Path):
    env = hooked_env(receiver.url, CHAT_STORAGE="mongo", CHAT_MONGO_URL=mongo_url,
                     CHAT_MONGO_DB=f"hooks_{os.getpid()}_{new_id()}",
                     CHAT_REDIS_URL=redis_server.url, CHAT_TRANSPORTS="websocket")
    nodes = [Server(env, tmp_path / f"node-{n}.log").start() for n in "ab"]
    try:
        customer = await Client(nodes[0].url, "customer", new_id()).connect()
        vendor = await Client(nodes[1].url, "vendor", new_id()).connect()
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "0"})
        for n in range(1, 10):
            client = customer if n % 2 else vendor
            await client.call("sendMessage", {"chatId": opened["data"]["id"], "text": str(n)})
        await receiver.wait_for(lambda r: len(of_type(r, "message.created")) >= 10, timeout=30)
        await asyncio.sleep(1.0)  # a duplicate would have come by now (poll 0.2 s)
        created = of_type(receiver, "message.created")
        assert sorted(int(b["data"]["message"]["text"]) for b in created) == list(range(10))
        assert len(receiver.ids()) == len(set(receiver.ids()))
        await customer.close()
        await vendor.close()
    finally:
        for node in nodes:
            node.stop()
