"""Helpers of the transport tests.

- ``in_process``: the service in this process under uvicorn, for tests that look at its
  Engine.IO sessions (``eio.sockets``) and at the event loop's tasks.
- ``CountingServer``: the same in a thread of its own, on an event loop that counts the
  tasks, timers and futures made on it, so that what the clients (in the test's loop) make
  is not counted.
- ``RawPolling`` and ``raw_websocket``: Engine.IO clients driven by hand, to do what a
  misbehaving client does (never poll, never read, overlap, oversize).
- ``rss_kb``: a process's resident memory, from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from service_support import SECRET, free_port, make_token, passed_through
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from chat_server.entrypoints.app import ChatApp
from chat_server.entrypoints.container import Container, build_container
from chat_server.entrypoints.serving import websocket_protocol
from chat_server.entrypoints.settings import Settings

Customize = Callable[[Container], None]


def settings_for(port: int, env: dict[str, str] | None) -> Settings:
    """Settings as the service reads them (so that a variable it does not know is ignored,
    as it would be in production), with the test secret and a short presence grace."""
    return Settings.load({**passed_through(), "CHAT_JWT_SECRET": SECRET, "CHAT_PORT": str(port),
                          "CHAT_PRESENCE_GRACE_S": "1", **(env or {})})


class InProcess:
    def __init__(self, url: str, app: ChatApp) -> None:
        self.url = url
        self.app = app

    @property
    def eio(self) -> Any:
        return self.app.container.sio().eio

    def census(self) -> tuple[int, int]:
        """(Engine.IO sessions, asyncio tasks) of this process."""
        return len(self.eio.sockets), len(asyncio.all_tasks())

    async def census_back_to(self, baseline: tuple[int, int], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.census() != baseline:
            assert asyncio.get_running_loop().time() < deadline, (
                f"sessions and tasks {self.census()}, before {baseline}")
            await asyncio.sleep(0.02)


async def _serve(settings: Settings, customize: Customize | None, **uvicorn_options: Any
                 ) -> tuple[ChatApp, uvicorn.Server, asyncio.Task[None]]:
    container = build_container(settings)
    if customize is not None:
        customize(container)
    app = ChatApp(settings, container)
    await app.startup()
    options: dict[str, Any] = {"lifespan": "off", "log_level": "warning", "http": "httptools",
                               "ws": websocket_protocol(settings.transport_impl),
                               "ws_per_message_deflate": False, **uvicorn_options}
    server = uvicorn.Server(uvicorn.Config(app.asgi, host="127.0.0.1", port=settings.port,
                                           **options))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.02)
    return app, server, task


async def _stop(app: ChatApp, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task, 10)
    await app.shutdown()


@contextlib.asynccontextmanager
async def in_process(env: dict[str, str] | None = None, customize: Customize | None = None,
                     **uvicorn_options: Any) -> AsyncIterator[InProcess]:
    port = free_port()
    app, server, task = await _serve(settings_for(port, env), customize, **uvicorn_options)
    try:
        yield InProcess(f"http://127.0.0.1:{port}", app)
    finally:
        await _stop(app, server, task)


def _from_uvicorns_tick() -> bool:
    """uvicorn's main loop sleeps 0.1 s between its housekeeping ticks: a timer per tick,
    however many messages go by (counting it made the bound depend on the machine's speed)."""
    frame = sys._getframe(2)
    for _ in range(4):  # call_at <- call_later <- asyncio.sleep <- Server.main_loop
        if frame is None:
            return False
        if frame.f_code.co_name == "main_loop" and "uvicorn" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class CountingLoop(asyncio.SelectorEventLoop):
    """Counts what is made on it: tasks, timers (``call_at``, which ``call_later`` uses)
    and futures made through the loop (``loop.create_future``, what asyncio's primitives
    use)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = {"tasks": 0, "timers": 0, "futures": 0}

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        self.counts["tasks"] += 1
        return super().create_task(coro, **kwargs)

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        if not _from_uvicorns_tick():
            self.counts["timers"] += 1
        return super().call_at(when, callback, *args, context=context)

    def create_future(self) -> asyncio.Future[Any]:
        self.counts["futures"] += 1
        return super().create_future()


class CountingServer:
    """The service on a ``CountingLoop`` in a thread of its own."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = CountingLoop()
        self._settings = settings_for(self.port, env)
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="counting-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app, server, task = await _serve(self._settings, None)
        self._started.set()
        await self._stop.wait()
        await _stop(app, server, task)

    def counts(self) -> dict[str, int]:
        """A snapshot, taken on the server's loop."""
        return asyncio.run_coroutine_threadsafe(self._snapshot(), self.loop).result(5)

    async def _snapshot(self) -> dict[str, int]:
        return dict(self.loop.counts)

    def __enter__(self) -> CountingServer:
        self._thread.start()
        assert self._started.wait(30), "the counting server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


def connect_packet(namespace: str, user_type: str, user_id: int) -> str:
    return f'40{namespace},{json.dumps({"token": make_token(user_type, user_id)})}'


class RawPolling:
    """An Engine.IO long-polling session driven by hand."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.base = f"{url}/socket.io/?EIO=4&transport=polling"
        self.sid: str | None = None
        self.handshake: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return f"{self.base}&sid={self.sid}"

    async def open(self) -> int:
        async with self.http.get(self.base) as response:
            body = await response.text()
            if response.status == 200:
                assert body.startswith("0"), body
                self.handshake = json.loads(body[1:])
                self.sid = self.handshake["sid"]
            return response.status

    async def post(self, *packets: str) -> int:
        async with self.http.post(self.url, data="\x1e".join(packets).encode()) as response:
            await response.read()
            return response.status

    async def get(self) -> tuple[int, list[str]]:
        async with self.http.get(self.url) as response:
            body = await response.text()
            return response.status, body.split("\x1e") if response.status == 200 else []


async def raw_websocket(url: str, max_queue: int | None = 16) -> ClientConnection:
    """An Engine.IO WebSocket opened by hand; ``max_queue=1`` makes a reader that stops
    reading from its socket as soon as one frame waits unread."""
    return await ws_connect(f"{url.replace('http', 'ws', 1)}/socket.io/?EIO=4&transport=websocket",
                            ping_interval=None, compression=None, max_size=None,
                            max_queue=max_queue, open_timeout=5, close_timeout=1)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")
