"""``CHAT_LOG_FORMAT=json``: every line the server writes is one JSON object, and neither a
token given in the query string nor a message text ever appears, at the debug level with
the access log on."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
import socketio
from service_support import SECRET, Server, http_json, make_token, new_id, storage_env

TEXT = "a message text that must never be logged"


@pytest.mark.parametrize("storage", ["memory", "mongo"])
async def test_json_logs_are_one_object_per_line_without_tokens_or_texts(
        storage: str, request: pytest.FixtureRequest, tmp_path: Path):
    server = Server({"CHAT_JWT_SECRET": SECRET, "CHAT_LOG_FORMAT": "json",
                     "CHAT_LOG_LEVEL": "debug", "CHAT_ACCESS_LOG": "1",
                     **storage_env(storage, request)}, tmp_path / "server.log").start()
    customer, vendor = new_id(), new_id()
    tokens = [make_token("customer", customer), make_token("vendor", vendor)]
    try:
        clients = []
        for token, transport in zip(tokens, ("websocket", "polling"), strict=True):
            sio = socketio.AsyncClient(reconnection=False)
            # The token also in the URL's query string, as some clients put it (the server
            # reads only auth and headers, but uvicorn would log the query string).
            await sio.connect(f"{server.url}/?token={token}", namespaces=["/presence", "/chat"],
                              auth={"token": token}, transports=[transport], wait_timeout=5)
            clients.append(sio)
        ack = await clients[0].call("sendMessage", {"recipientId": vendor, "productId": "sku",
                                                    "text": TEXT}, namespace="/chat", timeout=5)
        assert ack["statusCode"] == 200
        refused = await clients[0].call("getMessages", {"chatId": 1}, namespace="/chat",
                                        timeout=5)
        assert refused["statusCode"] == 400
        ready = await asyncio.to_thread(http_json, f"{server.url}/readyz?token={tokens[0]}")
        assert ready[0] == 200
        for sio in clients:
            await sio.disconnect()
    finally:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.process.wait, 20) == 0
        server.process = None

    output = server.log()
    lines = output.splitlines()
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is JSON
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
        assert entry["time"].endswith("Z")
    # Not even a part: the payload and the signature of each token, a piece of the text.
    pieces = [piece for token in tokens for part in token.split(".")[1:]
              for piece in (part[:12], part[-12:])]
    for secret in (*tokens, *pieces, TEXT, "never be logged", SECRET):
        assert secret not in output
    assert "?" not in "".join(str(e.get("path", "")) for e in entries)
    assert "token=" not in output
    answered = [e for e in entries if e.get("event") == "sendMessage"]
    assert answered and answered[0]["status"] == 200 and answered[0]["sid"]
    assert answered[0]["duration_ms"] >= 0
    access = [e for e in entries if e["logger"] == "chat_server.access"]
    assert any(e["path"] == "/readyz" and e["status"] == 200 and e["method"] == "GET"
               and e["duration_ms"] >= 0 for e in access)
    assert any(e["path"] == "/socket.io/" and e["method"] == "POST" for e in access)  # polling
    assert any(e["path"] == "/socket.io/" and e["method"] == "WEBSOCKET" for e in access)
