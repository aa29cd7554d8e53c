"""The user API's unread badge: ``GET /api/v1/me/unread`` with the user's JWT."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat_server.application.ports import UnreadCounters
from chat_server.entrypoints.auth import TokenVerifier
from chat_server.entrypoints.http.api.common import answering, envelope, user_of


def me_routes(verifier: TokenVerifier, counters: UnreadCounters) -> list[BaseRoute]:
    async def unread(request: Request) -> Response:
        totals = await counters.totals(user_of(request, verifier))
        return envelope(200, "Unread messages have been counted",
                        {"total": totals.total, "chats": totals.chats})

    return [Route("/api/v1/me/unread", answering("my unread", unread), methods=["GET"])]
