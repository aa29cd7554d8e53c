"""The service on MongoDB as operators run it: restarts keep everything, an unreachable
MongoDB stops the start with one line, and an outage while running is a 503 that heals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from mongo_support import start_secantusdb
from service_support import SECRET, Client, Server, free_port, http_json, new_id


def mongo_env(url: str, database: str) -> dict[str, str]:
    return {"CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo", "CHAT_MONGO_URL": url,
            "CHAT_MONGO_DB": database, "CHAT_PRESENCE_GRACE_S": "2",
            "CHAT_PRESENCE_OFFLINE_DELAY_S": "0.5", "CHAT_STORAGE_TIMEOUT_S": "2"}


async def test_everything_survives_a_restart_of_the_service(mongo_url: str, tmp_path: Path):
    env = mongo_env(mongo_url, f"restart_{os.getpid()}")
    server = Server(env, tmp_path / "first.log").start()
    customer = await Client(server.url, "customer", new_id()).connect()
    vendor = await Client(server.url, "vendor", new_id()).connect()
    opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                 "productId": "sku", "text": "one",
                                                 "productName": "Lamp"})
    chat_id = opened["data"]["id"]
    await customer.call("sendMessage", {"chatId": chat_id, "text": "two"})
    await vendor.call("markAsRead", {"chatId": chat_id})
    await customer.close()
    await vendor.next("userIsOffline")
    # Stored while the customer is away: an offline message after the restart.
    await vendor.call("sendMessage", {"chatId": chat_id, "text": "three",
                                      "clientMessageId": "v-1"})
    await vendor.close()
    server.stop()

    server = Server(env, tmp_path / "second.log").start()
    try:
        vendor = await Client(server.url, "vendor", vendor.user_id).connect()
        chats = vendor.received("userChats")[0]["data"]
        assert [c["id"] for c in chats] == [chat_id]
        assert chats[0]["productName"] == "Lamp" and chats[0]["unreadCount"] == 0
        page = await vendor.call("getMessages", {"chatId": chat_id})
        messages = page["data"]["messages"]
        assert [(m["seq"], m["text"]) for m in messages] == [(1, "one"), (2, "two"),
                                                             (3, "three")]
        assert messages[0]["read"] and messages[1]["read"] and not messages[2]["read"]
        presence = await vendor.call("checkOnlinePresence", {"userId": customer.user_id,
                                                             "userType": "customer"})
        assert presence["data"]["status"] is False and presence["data"]["lastSeen"]
        # Idempotency survives too: the repeat answers with the stored message.
        again = await vendor.call("sendMessage", {"chatId": chat_id, "text": "three",
                                                  "clientMessageId": "v-1"})
        assert again["data"]["id"] == messages[2]["id"]
        customer = await Client(server.url, "customer", customer.user_id).connect()
        offline = customer.received("offlineMessages")[0]["data"]
        assert [m["text"] for m in offline] == ["three"]
        await customer.close()
        await vendor.close()
    finally:
        server.stop()


def test_an_unreachable_mongodb_stops_the_start_with_one_line():
    script = Path(sys.executable).with_name("chat-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env.update(mongo_env(f"mongodb://127.0.0.1:{free_port()}/?retryWrites=false", "x"),
               CHAT_MONGO_CONNECT_TIMEOUT_S="2", CHAT_PORT=str(free_port()))
    started = time.monotonic()
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert 1.5 < time.monotonic() - started < 20
    errors = [line for line in result.stderr.splitlines() if "chat-server:" in line]
    assert len(errors) == 1 and "MongoDB did not answer within 2 s" in errors[0]
    assert "Traceback" not in result.stderr


async def test_mongodb_going_away_is_a_503_and_service_resumes_by_itself(tmp_path: Path):
    port = free_port()
    mongo = start_secantusdb(tmp_path / "db", port)
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    server = Server(mongo_env(url, "outage"), tmp_path / "server.log").start()
    try:
        customer = await Client(server.url, "customer", new_id()).connect()
        vendor = await Client(server.url, "vendor", new_id()).connect()
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "kept"})
        chat_id = opened["data"]["id"]
        mongo.terminate()
        mongo.wait(15)
        down = await customer.call("sendMessage", {"chatId": chat_id, "text": "lost?"})
        assert down["statusCode"] == 503 and down["data"] == {"event": "sendMessage"}
        assert (await asyncio.to_thread(http_json, f"{server.url}/readyz"))[0] == 503
        assert (await asyncio.to_thread(http_json, f"{server.url}/healthz"))[0] == 200
        mongo = start_secantusdb(tmp_path / "db", port)
        deadline = time.monotonic() + 30
        while (await asyncio.to_thread(http_json, f"{server.url}/readyz"))[0] != 200:
            assert time.monotonic() < deadline, "readyz did not recover"
            await asyncio.sleep(0.3)
        ok = await customer.call("sendMessage", {"chatId": chat_id, "text": "back"})
        assert ok["statusCode"] == 200 and ok["data"]["seq"] == 2
        page = await vendor.call("getMessages", {"chatId": chat_id})
        assert [m["text"] for m in page["data"]["messages"]] == ["kept", "back"]
        await customer.close()
        await vendor.close()
    finally:
        server.stop()
        mongo.terminate()
        mongo.wait(15)
