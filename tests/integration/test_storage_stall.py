"""A MongoDB that stalls (SIGSTOP: its sockets stay open, nothing answers) is a 503 within
CHAT_STORAGE_TIMEOUT_S, not a request that hangs for the whole stall; it heals by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from mongo_support import start_secantusdb
from service_support import SECRET, Client, Server, free_port, new_id

STORAGE_TIMEOUT_S = 1.0


async def test_a_stalled_mongodb_is_a_503_within_the_storage_timeout(tmp_path: Path):
    port = free_port()
    mongo = start_secantusdb(tmp_path / "db", port)
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo",
           "CHAT_MONGO_URL": f"mongodb://127.0.0.1:{port}/?retryWrites=false",
           "CHAT_MONGO_DB": "stall", "CHAT_STORAGE_TIMEOUT_S": str(STORAGE_TIMEOUT_S),
           "CHAT_PRESENCE_GRACE_S": "2"}
    server = Server(env, tmp_path / "server.log").start()
    customer = vendor = None
    try:
        customer = await Client(server.url, "customer", new_id()).connect()
        vendor = await Client(server.url, "vendor", new_id()).connect()
        opened = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                     "productId": "p", "text": "before"})
        chat_id = opened["data"]["id"]
        os.kill(mongo.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            stalled = await customer.call("sendMessage", {"chatId": chat_id, "text": "during"})
            elapsed = time.monotonic() - started
            assert stalled["statusCode"] == 503, stalled
            # One storage call timed out (the first of the send); a little slack for the
            # machine. Without the bound it waits for the whole stall.
            assert elapsed < STORAGE_TIMEOUT_S + 1.5, elapsed
            # The same socket's next event is not stuck behind the stall either.
            started = time.monotonic()
            again = await customer.call("getMessages", {"chatId": chat_id})
            assert again["statusCode"] == 503
            assert time.monotonic() - started < STORAGE_TIMEOUT_S + 1.5
        finally:
            os.kill(mongo.pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while True:
            ok = await customer.call("sendMessage", {"chatId": chat_id, "text": "after"})
            if ok["statusCode"] == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert ok["statusCode"] == 200, ok
        page = await vendor.call("getMessages", {"chatId": chat_id})
        assert [m["text"] for m in page["data"]["messages"]][-1] == "after"
    finally:
        for client in (customer, vendor):
            if client is not None:
                await client.close()
        server.stop()
        mongo.terminate()
        mongo.wait(15)
