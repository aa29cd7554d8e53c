"""The baseline of the benchmarks: a bare python-socketio relay doing only the socket work
that the service must also do per message (same library versions, same uvicorn settings).

It trusts the token's claims without verifying them, keeps no storage and no rules: each
socket joins a room per user; ``sendMessage`` is emitted as ``receiveMessage`` (``newChat``
for a first message) to the recipient's and the sender's rooms, skipping the requester, and
acked with the same envelope.

    python baseline_relay.py PORT [--engine stock|lean] [--inline]

``--engine lean`` runs it on the service's Engine.IO layer (``ChatEngineServer``, through
python-socketio's ``_engineio_server_class``, as the service does) instead of
python-engineio's own server; ``--inline`` handles each socket's events in its reader
(``async_handlers=False``, as the service does) instead of one task per event.
"""

import argparse
import base64
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn


def _server(engine: str, inline: bool) -> socketio.AsyncServer:
    options: dict[str, Any] = {"async_mode": "asgi", "max_http_buffer_size": 65536}
    if inline:
        options["async_handlers"] = False
    if engine == "stock":
        return socketio.AsyncServer(**options)
    from chat_server.entrypoints.socketio.engine import ChatEngineServer

    class LeanRelay(socketio.AsyncServer):  # type: ignore[misc]
        def _engineio_server_class(self) -> type[ChatEngineServer]:
            return ChatEngineServer

    return LeanRelay(transport_impl="lean", **options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--engine", choices=["stock", "lean"], default="stock")
    parser.add_argument("--inline", action="store_true")
    opts = parser.parse_args()
    sio = _server(opts.engine, opts.inline)
    users: dict[str, tuple[str, int]] = {}  # sid -> (TYPE, id); sids are per namespace
    seq = itertools.count(1)

    def on_connect(ns: str):
        async def connect(sid: str, environ: dict, auth: dict) -> None:
            part = auth["token"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            users[sid] = user = (claims["userType"].upper(), int(claims["sub"]))
            await sio.enter_room(sid, f"{user[0]}:{user[1]}", namespace=ns)
            if ns == "/chat":  # what a /chat client waits for after connecting
                for event in ("offlineMessages", "userChats"):
                    env = {"statusCode": 200, "error": False, "message": event, "data": []}
                    await sio.emit(event, env, to=sid, namespace=ns)
        return connect

    async def send_message(sid: str, data: dict) -> dict:
        kind, uid = users[sid]
        other = "VENDOR" if kind == "CUSTOMER" else "CUSTOMER"
        rid, now, n = data["recipientId"], datetime.now(UTC).isoformat()[:23] + "Z", next(seq)
        key = (uid, rid) if kind == "CUSTOMER" else (rid, uid)
        chat_id = data.get("chatId") or f"{data['productId']}-{key[0]}-{key[1]}"
        msg = {"id": f"{n:024x}", "chatId": chat_id, "seq": n, "senderId": uid, "recipientId": rid,
               "senderType": kind, "recipientType": other, "text": data.get("text"),
               "messageImages": [], "read": False, "readAt": None, "recipientOnline": True,
               "deliveredAt": now, "clientMessageId": data.get("clientMessageId"),
               "timestamp": now, "createdAt": now, "updatedAt": now}
        event, body = "receiveMessage", msg
        if "chatId" not in data:
            body = {"id": chat_id, "productId": data["productId"], "messages": [msg]}
            event = "newChat"
        env = {"statusCode": 200, "error": False, "message": "New message received", "data": body}
        rooms = [f"{other}:{rid}", f"{kind}:{uid}"]
        await sio.emit(event, env, to=rooms, skip_sid=sid, namespace="/chat")
        return env

    def disconnect(sid: str, *args: object) -> None:
        users.pop(sid, None)

    for ns in ("/presence", "/chat"):
        sio.on("connect", on_connect(ns), namespace=ns)
        sio.on("disconnect", disconnect, namespace=ns)
    sio.on("sendMessage", send_message, namespace="/chat")
    app = socketio.ASGIApp(sio, socketio_path="socket.io")
    uvicorn.run(app, host="127.0.0.1", port=opts.port, loop="uvloop", http="httptools",
                ws="auto", ws_max_size=65536, ws_per_message_deflate=False, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
