"""``GET /debug/stats``: counts that show a leak (tasks, Engine.IO sessions, connections).

Served only when ``CHAT_DEBUG_STATS=1`` (the soak benchmark sets it), and then only to a
loopback client: it says nothing about users, but an operator does not expose internals.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def debug_stats_route(counts: Callable[[], Mapping[str, Any]]) -> Route:
    async def stats(request: Request) -> Response:
        if not _loopback(request):
            return JSONResponse({"error": True, "statusCode": 404, "message": "Not found"},
                                status_code=404)
        return JSONResponse({"tasks": len(asyncio.all_tasks()), **counts()})

    return Route("/debug/stats", stats)
