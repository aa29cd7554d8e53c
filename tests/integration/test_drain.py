"""SIGTERM drains a node: a client sending in a loop loses no acknowledged message, and
every unacknowledged one either failed visibly or is stored once, and acknowledged, when
sent again with its clientMessageId after the client reconnected (to the restarted node)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import socketio
from service_support import SECRET, Server, make_token, new_id

DRAIN_S = 10.0
HIGH = "100000/10s"


def node(mongo_url: str, database: str, log: Path, port: int | None = None) -> Server:
    server = Server({"CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo",
                     "CHAT_MONGO_URL": mongo_url, "CHAT_MONGO_DB": database,
                     "CHAT_DRAIN_S": str(DRAIN_S), "CHAT_SEND_RATE": HIGH,
                     "CHAT_SEND_BURST": "100000", "CHAT_REQUEST_RATE": HIGH,
                     "CHAT_REQUEST_BURST": "100000", "CHAT_PRESENCE_GRACE_S": "2"}, log)
    if port is not None:  # the same address: the client reconnects to the new process
        server.port, server.url = port, f"http://127.0.0.1:{port}"
        server.env["CHAT_PORT"] = str(port)
    return server


class Sender:
    """A python-socketio client that reconnects by itself, as apps run it."""

    def __init__(self, url: str, token: str, transport: str) -> None:
        self.url, self.token, self.transport = url, token, transport
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.1,
                                        reconnection_delay_max=0.5, randomization_factor=0)
        self.open = asyncio.Event()  # the /chat session is open (its userChats arrived)
        self.sessions = 0

        def opened(*_: Any) -> None:
            self.sessions += 1
            self.open.set()

        self.sio.on("userChats", opened, namespace="/chat")
        self.sio.on("disconnect", lambda *_: self.open.clear(), namespace="/chat")

    async def connect(self) -> None:
        await self.sio.connect(self.url, namespaces=["/presence", "/chat"],
                               auth={"token": self.token}, transports=[self.transport])
        await asyncio.wait_for(self.open.wait(), 10)

    async def send(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The ack, or None: no ack (timed out, or the connection went first)."""
        await self.open.wait()
        try:
            ack: dict[str, Any] = await self.sio.call("sendMessage", body, namespace="/chat",
                                                      timeout=5)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                socketio.exceptions.DisconnectedError):
            return None
        return ack


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_sigterm_loses_no_acknowledged_message_and_leaves_nothing_half_done(
        transport: str, mongo_url: str, tmp_path: Path):
    database = f"drain_{new_id()}"
    first = node(mongo_url, database, tmp_path / "first.log").start()
    customer, vendor_id = new_id(), new_id()
    sender = Sender(first.url, make_token("customer", customer), transport)
    await sender.connect()
    opened = await sender.send({"recipientId": vendor_id, "productId": "sku", "text": "opening",
                                "clientMessageId": "open"})
    assert opened is not None and opened["statusCode"] == 200
    chat_id = opened["data"]["id"]

    acked: dict[str, str] = {}  # clientMessageId -> the id its 200 ack carried
    attempts: dict[str, list[str]] = {}  # clientMessageId -> outcome of each attempt
    after_restart = asyncio.Event()
    enough = asyncio.Event()  # 15 acknowledged: time for SIGTERM
    stop = asyncio.Event()

    async def loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            cmid = f"m-{n}"
            while True:  # the same clientMessageId until it is acknowledged
                ack = await sender.send({"chatId": chat_id, "text": f"message {n}",
                                         "clientMessageId": cmid})
                outcome = "no ack" if ack is None else str(ack["statusCode"])
                attempts.setdefault(cmid, []).append(outcome)
                if ack is not None and ack["statusCode"] == 200:
                    acked[cmid] = ack["data"]["id"]
                    if len(acked) >= 15:
                        enough.set()
                    break
            if after_restart.is_set() and sender.sessions >= 2 and len(acked) >= before + 10:
                stop.set()  # ten more acknowledged by the second process

    before = 0
    sending = asyncio.create_task(loop())
    try:
        await asyncio.wait_for(enough.wait(), 30)
        before = len(acked)
        assert first.process is not None
        started = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(first.process.wait, DRAIN_S + 10)
        took = time.monotonic() - started
        first.process = None
        assert status == 0, first.log()[-3000:]
        assert took < DRAIN_S, f"the drain took {took:.1f} s"

        second = node(mongo_url, database, tmp_path / "second.log", port=first.port).start()
        after_restart.set()
        await asyncio.wait_for(sending, 60)
    finally:
        stop.set()
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
    try:
        assert sender.sessions >= 2  # it reconnected, to the second process
        page = await sender.sio.call("getMessages", {"chatId": chat_id, "limit": 100},
                                     namespace="/chat", timeout=5)
        stored = page["data"]["messages"]
        by_cmid = {m["clientMessageId"]: m for m in stored}
        # Every acknowledged message is stored, once, under the id its ack gave.
        assert len(by_cmid) == len(stored) == len(acked) + 1
        assert {cmid: m["id"] for cmid, m in by_cmid.items() if cmid != "open"} == acked
        # Nothing half done: the seqs have no gap (no send stopped between taking a seq
        # and storing its message).
        assert sorted(m["seq"] for m in stored) == list(range(1, len(stored) + 1))
        # What did not get its 200 at once failed visibly (an error ack or none).
        retried = {cmid: outcomes for cmid, outcomes in attempts.items() if len(outcomes) > 1}
        print("acked before SIGTERM:", before, "in all:", len(acked), "retried:", retried)
        assert all(o != "200" for outcomes in retried.values() for o in outcomes[:-1])
        assert "draining" in first.log()
    finally:
        await sender.sio.disconnect()
        second.stop()
