"""A real HTTP receiver of webhooks for the tests: a small ASGI app served by uvicorn on a
free port inside the test process.

It records every request (headers and raw body) as it arrives, and answers as scripted:
the next N requests fail with a status, answer slowly, stream an endless body or
redirect; otherwise 200. Before ``start()`` (or after ``stop()``) nobody listens on its
port: an absent receiver, whose URL is already known.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import uvicorn
from service_support import free_port

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
WAIT_TIMEOUT_S = 15.0


@attrs.frozen
class Delivery:
    """One request as it arrived; ``headers`` with lower-case names."""

    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()

    @property
    def id(self) -> str:
        return self.headers.get("x-chat-delivery", "")


@attrs.frozen
class Reply:
    status: int = 200
    delay_s: float = 0.0
    endless: bool = False  # a 200 whose body never ends (until the receiver stops)
    location: str | None = None


class WebhookReceiver:
    def __init__(self, port: int | None = None, path: str = "/hooks/chat") -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.deliveries: list[Delivery] = []
        self.default = Reply()
        self._script: deque[Reply] = deque()
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # --- scripting ----------------------------------------------------------------------

    def fail_next(self, count: int, status: int) -> None:
        self._script.extend(Reply(status=status) for _ in range(count))

    def slow_next(self, count: int, delay_s: float) -> None:
        """The next ``count`` requests are answered (200) only after ``delay_s``."""
        self._script.extend(Reply(delay_s=delay_s) for _ in range(count))

    def endless_next(self, count: int) -> None:
        self._script.extend(Reply(endless=True) for _ in range(count))

    def redirect_next(self, count: int, location: str, status: int = 302) -> None:
        self._script.extend(Reply(status=status, location=location) for _ in range(count))

    # --- facts ----------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return [d.id for d in self.deliveries]

    async def wait_for(self, condition: Callable[[WebhookReceiver], bool],
                       timeout: float = WAIT_TIMEOUT_S) -> None:
        """Until ``condition(self)`` holds; checked on every request that arrives."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the receiver got {len(self.deliveries)} requests "
                                     f"({self.ids()}), not what the test waited for")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for_count(self, count: int, timeout: float = WAIT_TIMEOUT_S) -> None:
        await self.wait_for(lambda r: len(r.deliveries) >= count, timeout)

    # --- the server -------------------------------------------------------------------------

    async def start(self) -> WebhookReceiver:
        self._closing.clear()
        config = uvicorn.Config(self._app, host="127.0.0.1", port=self.port, lifespan="off",
                                interface="asgi3", proxy_headers=False, log_level="warning",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise AssertionError("the webhook receiver stopped at start")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._closing.set()  # slow and endless answers end now
        self._server.should_exit = True
        await self._task
        self._server = self._task = None

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.deliveries.append(Delivery(scope["path"], scope["method"], headers, bytes(body),
                                        time.monotonic()))
        self._changed.set()
        reply = self._script.popleft() if self._script else self.default
        if reply.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay_s)
        response_headers = [(b"content-type", b"text/plain")]
        if reply.location is not None:
            response_headers.append((b"location", reply.location.encode()))
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": response_headers})
        if not reply.endless:
            await send({"type": "http.response.body", "body": b"ok"})
            return
        chunk = b"x" * 65536
        gone = asyncio.create_task(receive())  # http.disconnect once the client hangs up
        try:
            # 64 KB every millisecond for up to ~10 s: far beyond any sender's read limit.
            for _ in range(10_000):
                if self._closing.is_set() or gone.done():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.sleep(0.001)
            await send({"type": "http.response.body", "body": b""})
        finally:
            gone.cancel()
