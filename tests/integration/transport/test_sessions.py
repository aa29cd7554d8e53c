"""Limits on Engine.IO sessions: the connect timeout, the cap on sessions that have not
opened a namespace, the configured heartbeat, and a handler that stalls longer than the
ping timeout (src/entrypoints/socketio/engine.py, engine_socket.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers
from engine_support import RawPolling, connect_packet, in_process, raw_websocket
from service_support import Client, new_id, passed_through
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat_server.adapters.memory import InMemoryChatRepository
from chat_server.entrypoints.container import Container

SHORT_PINGS = {"CHAT_PING_INTERVAL_S": "0.3", "CHAT_PING_TIMEOUT_S": "0.3"}


async def _closed_within(ws: Any, seconds: float) -> list[str]:
    """The frames received until the connection closed (fails if it is still open)."""
    frames: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                frames.append(await ws.recv())
    except ConnectionClosed:
        return frames
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s; got {frames}") from None


async def test_a_session_that_opens_no_namespace_is_closed_after_the_connect_timeout():
    async with in_process({"CHAT_CONNECT_TIMEOUT_S": "0.5"}) as srv:
        baseline = srv.census()
        loop = asyncio.get_running_loop()
        ws = await raw_websocket(srv.url)
        assert (await ws.recv()).startswith("0")
        opened = loop.time()
        assert await _closed_within(ws, 3) == ["1"]  # a CLOSE packet, then the close
        assert loop.time() - opened >= 0.45
        async with aiohttp.ClientSession() as http:
            session = RawPolling(http, srv.url)
            assert await session.open() == 200
            assert await asyncio.wait_for(session.get(), 3) == (200, ["1"])
            assert await session.post("3") == 400
        await srv.census_back_to(baseline)


async def test_a_session_that_opened_a_namespace_outlives_the_connect_timeout():
    async with in_process({"CHAT_CONNECT_TIMEOUT_S": "0.3"}) as srv:
        client = await Client(srv.url, "customer", new_id()).connect()
        await asyncio.sleep(1.0)  # the timeout is what is tested: let it pass
        assert (await client.call("getUserChats"))["statusCode"] == 200
        assert not client.disconnected["/chat"].is_set()
        await client.close()


async def test_handshakes_beyond_the_pending_cap_are_refused_until_one_opens_a_namespace():
    """A flood of handshakes cannot grow memory: at most CHAT_MAX_PENDING_SESSIONS sessions
    that have not opened a namespace exist at once."""
    async with in_process({"CHAT_MAX_PENDING_SESSIONS": "3"}) as srv, \
            aiohttp.ClientSession() as http:
        sessions = [RawPolling(http, srv.url) for _ in range(4)]
        assert [await s.open() for s in sessions] == [200, 200, 200, 503]
        with pytest.raises(InvalidStatus):  # uvicorn answers a closed handshake with 403
            await raw_websocket(srv.url)
        assert srv.eio.pending_sessions == 3
        first = sessions[0]
        assert await first.post(connect_packet("/presence", "customer", new_id())) == 200
        status, packets = await first.get()
        assert status == 200 and packets[0].startswith("40/presence,")
        assert srv.eio.pending_sessions == 2
        assert await RawPolling(http, srv.url).open() == 200


async def test_the_ping_settings_reach_the_client_and_a_client_that_does_not_pong_is_closed():
    async with in_process({"CHAT_PING_INTERVAL_S": "0.2", "CHAT_PING_TIMEOUT_S": "0.4"}) as srv:
        loop = asyncio.get_running_loop()
        silent = await raw_websocket(srv.url)
        opened = json.loads((await silent.recv())[1:])
        assert {k: opened[k] for k in ("pingInterval", "pingTimeout", "maxPayload", "upgrades")
                } == {"pingInterval": 200, "pingTimeout": 400, "maxPayload": 65536,
                      "upgrades": []}
        assert await asyncio.wait_for(silent.recv(), 2) == "2"
        pinged = loop.time()
        # The stock handler's own read timeout (pingInterval + pingTimeout without a frame)
        # may end the connection before the CLOSE packet goes out.
        expected = ([["1"], []] if passed_through().get("CHAT_TRANSPORT_IMPL") == "stock"
                    else [["1"]])
        assert await _closed_within(silent, 2) in expected
        assert 0.35 <= loop.time() - pinged <= 0.4 + 0.5
        answering = await raw_websocket(srv.url)
        assert (await answering.recv()).startswith("0")
        for _ in range(5):  # PINGs keep coming every pingInterval to the one that PONGs
            assert await asyncio.wait_for(answering.recv(), 2) == "2"
            await answering.send("3")
        await answering.close()
        async with aiohttp.ClientSession() as http:
            session = RawPolling(http, srv.url)
            assert await session.open() == 200
            assert session.handshake["upgrades"] == ["websocket"]


class StallingChats(InMemoryChatRepository):
    """Chats whose ``get`` waits while ``stalled`` is set: a database that stops answering."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled: asyncio.Event | None = None

    async def get(self, chat_id: str) -> Any:
        if self.stalled is not None:
            await self.stalled.wait()
        return await super().get(chat_id)


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
async def test_a_handler_stalled_past_the_ping_timeout_keeps_a_healthy_client_connected(
    transports: list[str]
):
    """python-socketio runs a socket's events in order inside its reader, so while one
    handler waits the client's PONGs are not read: that must not count against it."""
    chats = StallingChats()

    def stalling(container: Container) -> None:
        container.storage.chats.override(providers.Object(chats))

    async with in_process(SHORT_PINGS, customize=stalling) as srv:
        customer = await Client(srv.url, "customer", new_id()).connect(transports=transports)
        assert (customer.sio.eio.ping_interval, customer.sio.eio.ping_timeout) == (0.3, 0.3)
        vendor = await Client(srv.url, "vendor", new_id()).connect()
        sent = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                   "productId": "p", "text": "a"})
        chat_id = sent["data"]["id"]
        chats.stalled = asyncio.Event()
        answer = asyncio.create_task(customer.call("getMessages", {"chatId": chat_id}))
        await asyncio.sleep(3 * (0.3 + 0.3))  # the stall is what is tested: three timeouts
        chats.stalled.set()
        chats.stalled = None
        assert (await answer)["statusCode"] == 200
        assert (await customer.call("getMessages", {"chatId": chat_id}))["statusCode"] == 200
        assert not customer.disconnected["/chat"].is_set()
        await customer.close()
        await vendor.close()
