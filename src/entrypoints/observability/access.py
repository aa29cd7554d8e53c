"""``CHAT_ACCESS_LOG=1``: one line per HTTP request (long polls included) and per WebSocket,
with the method, the path without its query string (a client may put its token there),
the status and the duration. uvicorn's own access log stays off: it prints query strings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("chat_server.access")


class AccessLog:
    """ASGI middleware. A WebSocket is logged when it ends, with its duration and no
    status: its ``send`` is handed to the application untouched, because the Engine.IO
    layer drives it by hand (see ``engine_websocket``); uvicorn logs its handshake status
    (without the query string, see ``logs.HideQueryStrings``)."""

    def __init__(self, app: Asgi) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending if kind == "http" else send)
        finally:
            method = str(scope.get("method", "GET")) if kind == "http" else "WEBSOCKET"
            path = str(scope.get("path", ""))
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.info("%s %s %s %.1f ms", method, path, status if status is not None else "-",
                        duration_ms, extra={"method": method, "path": path, "status": status,
                                            "duration_ms": duration_ms})
