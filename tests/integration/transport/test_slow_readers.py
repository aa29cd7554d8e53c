"""A client that asks for large answers and never reads them, on both transports, against
``chat-server`` as operators run it, with its RSS sampled from /proc.

Measured before the engine layer: over long-polling (requests POSTed, answers never
collected, the session kept alive by unsolicited PONGs) RSS grew ~11 MB/s, 76 MB -> 1.7 GB;
over a WebSocket that is never read, ~0.5 GB was held until the ping timeout. Now what
waits for one session is bounded (CHAT_SOCKET_BUFFER_BYTES), past it the session is
closed, and the users that send to it do not notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from engine_support import RawPolling, connect_packet, raw_websocket, rss_kb
from service_support import SECRET, Client, Server, new_id
from websockets.exceptions import ConnectionClosed

LONG = "x" * 5000  # the longest text a message may have
HISTORY = 100  # messages in the slow user's chat: one getMessages page of 100 is ~0.5 MB
REQUESTS = 600  # ~300 MB of answers if nothing bounded them
RSS_GROWTH_BOUND_MB = 100  # the bound (4 MiB) plus encoding temporaries, with a wide margin
SENDS = 150


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[Server]:
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_SEND_RATE": "off", "CHAT_REQUEST_RATE": "off",
           "CHAT_PRESENCE_GRACE_S": "1", "CHAT_LOG_LEVEL": "warning"}
    server = Server(env, tmp_path / "chat-server.log").start()
    yield server
    server.stop()


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = rss_kb(pid)
        self.peak = self.baseline

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                self.peak = max(self.peak, rss_kb(self.pid))
                await asyncio.sleep(0.02)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1024


def _get_messages(ack_id: int, chat_id: str) -> str:
    return f'42/chat,{ack_id}{json.dumps(["getMessages", {"chatId": chat_id, "limit": 100}])}'


async def _websocket_reader_that_never_reads(url: str, user_id: int, chat_id: str,
                                             gone: asyncio.Event) -> None:
    """Authenticates, opens /presence and /chat, asks for large answers and does not read
    (its socket stops reading as soon as one frame waits: max_queue=1) until the others
    have seen it go offline."""
    ws = await raw_websocket(url, max_queue=1)
    try:
        await ws.send(connect_packet("/presence", "vendor", user_id))
        await ws.send(connect_packet("/chat", "vendor", user_id))
        for n in range(REQUESTS):
            await ws.send(_get_messages(n, chat_id))
        await gone.wait()
        # It reads now: what it gets is what was on the way, then the end of the connection.
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return
    except TimeoutError:
        raise AssertionError("the slow WebSocket client was never disconnected") from None
    finally:
        await ws.close()


async def _polling_client_that_never_collects(url: str, user_id: int, chat_id: str,
                                              gone: asyncio.Event) -> None:
    """POSTs its requests with an unsolicited PONG in each, and never GETs."""
    async with aiohttp.ClientSession() as http:
        session = RawPolling(http, url)
        assert await session.open() == 200
        assert await session.post(connect_packet("/presence", "vendor", user_id),
                                  connect_packet("/chat", "vendor", user_id)) == 200
        for first in range(0, REQUESTS, 15):
            batch = [_get_messages(n, chat_id) for n in range(first, first + 15)]
            if await session.post(*batch, "3") != 200:
                return  # the session was closed: 400 Invalid session
        raise AssertionError("the polling client was never disconnected")


@pytest.mark.parametrize("slow_client", [_websocket_reader_that_never_reads,
                                         _polling_client_that_never_collects],
                         ids=["websocket", "polling"])
async def test_a_client_that_never_reads_is_disconnected_and_nobody_else_notices(
    loaded: Server,
    slow_client: Callable[[str, int, str, asyncio.Event], Awaitable[None]],
):
    assert loaded.process is not None
    slow_id = new_id()
    # The slow user is a vendor: a vendor's presence is seen by the customers who write to
    # it, so the sender is told when the slow one is gone.
    sender = await Client(loaded.url, "customer", new_id()).connect()
    peer = await Client(loaded.url, "vendor", new_id()).connect()
    first = await sender.call("sendMessage", {"recipientId": slow_id, "productId": "p",
                                              "text": LONG})
    slow_chat = first["data"]["id"]
    for _ in range(HISTORY - 1):
        assert (await sender.call("sendMessage", {"chatId": slow_chat, "text": LONG})
                )["statusCode"] == 200
    opened = await sender.call("sendMessage", {"recipientId": peer.user_id, "productId": "p",
                                               "text": "hello"})
    peer_chat = opened["data"]["id"]
    await peer.next("newChat")
    rss = RssSampler(loaded.process.pid)
    latencies: list[float] = []

    async def flood() -> None:
        """The sender keeps writing to the slow user and to a healthy peer."""
        loop = asyncio.get_running_loop()
        for n in range(SENDS):
            chat = slow_chat if n % 2 else peer_chat
            started = loop.time()
            ack = await sender.call("sendMessage", {"chatId": chat, "text": f"flood {n}"})
            latencies.append(loop.time() - started)
            assert ack["statusCode"] == 200, ack

    gone = asyncio.Event()
    async with rss.sampling():
        slow = asyncio.create_task(slow_client(loaded.url, slow_id, slow_chat, gone))
        await flood()
        offline = await sender.next("userIsOffline", namespace="/presence", timeout=15,
                                    where=lambda env: env["data"]["userId"] == slow_id)
        gone.set()
        await slow
    assert offline["data"]["userType"] == "VENDOR"  # its disconnect handlers ran
    assert rss.growth_mb < RSS_GROWTH_BOUND_MB, (rss.baseline, rss.peak)
    assert len(latencies) == SENDS
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert p99 < 1.0, f"the sender waited {p99:.3f} s (p99)"
    texts = [(await peer.next("receiveMessage"))["data"]["text"] for _ in range(SENDS // 2)]
    assert texts == [f"flood {n}" for n in range(0, SENDS, 2)]
    assert (await peer.call("getUserChats"))["statusCode"] == 200
    await sender.close()
    await peer.close()
