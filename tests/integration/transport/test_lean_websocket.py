"""The lean WebSocket transport (src/entrypoints/socketio/engine_websocket.py): what it saves
per message, and every Engine.IO behaviour it must keep (upgrade from long-polling, binary
attachments, the packet limit)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from typing import Any

import pytest
import socketio
import uvicorn
from engine_support import CountingServer, in_process, raw_websocket
from service_support import Client, free_port, new_id, passed_through
from websockets.exceptions import ConnectionClosed

from chat_server.entrypoints.socketio.server import ChatSocketServer

MESSAGES = 200
NO_LIMITS = {"CHAT_SEND_RATE": "off", "CHAT_REQUEST_RATE": "off"}


@pytest.mark.skipif(passed_through().get("CHAT_TRANSPORT_IMPL") == "stock",
                    reason="measures the lean transport; the stock one makes a task per frame")
async def test_the_websocket_path_makes_no_task_and_no_timer_per_message():
    """Profiled: python-engineio's WebSocket handler made a task and a ``wait_for`` (a task,
    a timer and futures) per frame received and per packet sent. Measured on this test:
    lean 1 task, 2 timers for 200 sends; stock 201 tasks and 210 timers. The lean reader
    took a future per frame too (the ASGI receive's) until frames were read straight from
    uvicorn's protocol (``engine_frames.DirectReadProtocol``)."""
    with CountingServer(NO_LIMITS) as server:
        customer = await Client(server.url, "customer", new_id()).connect()
        vendor = await Client(server.url, "vendor", new_id()).connect()
        first = await vendor.call("sendMessage", {"recipientId": customer.user_id,
                                                  "productId": "p", "text": "first"})
        chat_id = first["data"]["id"]
        await customer.next("newChat")
        before = server.counts()
        for n in range(MESSAGES):
            ack = await vendor.call("sendMessage", {"chatId": chat_id, "text": f"m{n}"})
            assert ack["statusCode"] == 200
        for n in range(MESSAGES):
            got = await customer.next("receiveMessage")
            assert got["data"]["text"] == f"m{n}"
        after = server.counts()
        made = {kind: after[kind] - before[kind] for kind in after}
        # Each send is 1 frame in, 3 packets out (the ack, the customer's and the vendor's
        # other devices' copies go to 2 sockets here).
        assert made["tasks"] <= MESSAGES // 20, made
        assert made["timers"] <= MESSAGES // 20, made
        # Some are left: a reader yields to the loop after 2 ms of handling, and then waits
        # for its queue once (20 to 29 per 200 sends measured here, as the machine's speed
        # goes), against one per frame before.
        assert made["futures"] <= MESSAGES // 2, made
        await customer.close()
        await vendor.close()


async def test_a_session_upgraded_from_polling_gets_every_message_in_order():
    """Browsers start on long-polling and upgrade: the packets queued for the poll during
    the upgrade go out on the WebSocket first, before anything newer."""
    async with in_process(NO_LIMITS) as srv:
        customer_id = new_id()
        vendor = await Client(srv.url, "vendor", new_id()).connect()
        first = await vendor.call("sendMessage", {"recipientId": customer_id, "productId": "p",
                                                  "text": "first"})
        chat_id = first["data"]["id"]
        customer = Client(srv.url, "customer", customer_id)
        sending = asyncio.create_task(_send_many(vendor, chat_id, 60))
        await customer.connect(transports=["polling", "websocket"])
        await sending
        # Those sent before the customer was online come in offlineMessages, the rest live.
        offline = [m["text"] for m in customer.received("offlineMessages")[0]["data"]
                   if m["text"] != "first"]
        live = [(await customer.next("receiveMessage"))["data"]["text"]
                for _ in range(60 - len(offline))]
        assert offline + live == [f"m{n}" for n in range(60)]
        assert live, "nothing was sent while the session was upgrading"
        assert customer.sio.transport() == "websocket"
        assert all(session.upgraded for session in srv.eio.sockets.values())
        ack = await customer.call("getUserChats")
        assert ack["statusCode"] == 200
        await customer.close()
        await vendor.close()


@pytest.mark.skipif(passed_through().get("CHAT_TRANSPORT_IMPL") == "stock",
                    reason="the stock WebSocket handler keeps its queue and the environ")
async def test_a_websocket_session_keeps_neither_a_poll_queue_nor_its_handshake_environ():
    """Measured with scenario 3: the queue made for the OPEN packet (four deques, about
    3 KB) and the handshake's environ, held by the frames that serve the WebSocket (about
    5 KB), stayed as long as the session; on a session upgraded from polling too."""
    async with in_process(NO_LIMITS) as srv:
        direct = await Client(srv.url, "customer", new_id()).connect()
        upgraded = await Client(srv.url, "vendor", new_id()).connect(
            transports=["polling", "websocket"])
        deadline = asyncio.get_running_loop().time() + 5
        while not all(s.upgraded for s in srv.eio.sockets.values()):
            assert asyncio.get_running_loop().time() < deadline, "no upgrade"
            await asyncio.sleep(0.02)
        assert len(srv.eio.sockets) == 2
        assert all(s._queue is None for s in srv.eio.sockets.values())
        environs = [o for o in gc.get_objects() if isinstance(o, dict) and "wsgi.input" in o]
        assert environs == []
        for client in (direct, upgraded):  # both still work
            assert (await client.call("getUserChats"))["statusCode"] == 200
            await client.close()


async def _send_many(vendor: Client, chat_id: str, count: int) -> None:
    for n in range(count):
        ack = await vendor.call("sendMessage", {"chatId": chat_id, "text": f"m{n}"})
        assert ack["statusCode"] == 200


@contextlib.asynccontextmanager
async def echo_server() -> Any:
    """A bare ChatSocketServer whose events echo their arguments back (as an event and as
    the ack): python-socketio encodes bytes as binary attachments."""
    sio = ChatSocketServer(namespaces="*", **_impl())

    async def on_event(namespace: str, sid: str, eio_sid: str, ack_id: int | None, name: str,
                       args: list[Any]) -> None:
        await sio.emit("echo", args[0] if args else None, to=sid, namespace=namespace)
        if ack_id is not None:
            await sio.send_ack(eio_sid, namespace, ack_id, args[0] if args else None)

    async def after_connect(namespace: str, sid: str) -> None:
        return None

    sio.route(on_event, after_connect)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(socketio.ASGIApp(sio), host="127.0.0.1", port=port,
                                           lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", sio
    server.should_exit = True
    await asyncio.wait_for(task, 10)


def _impl() -> dict[str, Any]:
    impl = passed_through().get("CHAT_TRANSPORT_IMPL")
    return {"transport_impl": impl} if impl else {}


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"], ["polling"]])
async def test_binary_attachments_cross_both_ways(transports: list[str]):
    async with echo_server() as (url, _):
        client = socketio.AsyncClient(reconnection=False)
        echoed: asyncio.Queue[Any] = asyncio.Queue()
        client.on("echo", echoed.put_nowait, namespace="/x")
        await client.connect(url, namespaces=["/x"], transports=transports, wait_timeout=5)
        blob = bytes(range(256)) * 40
        ack = await client.call("blob", {"name": "a", "data": blob, "more": [b"\x00", b""]},
                                namespace="/x", timeout=5)
        assert ack == {"name": "a", "data": blob, "more": [b"\x00", b""]}
        assert await asyncio.wait_for(echoed.get(), 5) == ack
        await client.disconnect()


async def test_a_frame_over_the_packet_limit_closes_the_connection():
    """maxPayload (CHAT_MAX_PACKET_BYTES) holds on the WebSocket too, whatever uvicorn's own
    frame limit is (here its default, 16 MiB)."""
    async with in_process({"CHAT_MAX_PACKET_BYTES": "4096"}) as srv:
        baseline = srv.census()
        ws = await raw_websocket(srv.url)
        opened = json.loads((await ws.recv())[1:])
        assert opened["maxPayload"] == 4096
        await ws.send("4" + "x" * 4096)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        if _impl().get("transport_impl") != "stock":  # the stock handler closes with 1000
            assert closed.value.rcvd.code == 1009  # "message too big"
        await srv.census_back_to(baseline)
