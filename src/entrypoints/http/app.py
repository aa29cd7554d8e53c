"""The starlette application: ``/healthz``, ``/readyz``, and in development the demo page
and its token endpoint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from chat_server.application.ports import HealthProbe
from chat_server.domain.model import UserRef, UserType, is_valid_user_id
from chat_server.entrypoints.http.api.common import envelope

STATIC = Path(__file__).parent / "static"
DEV_TOKEN_TTL_S = 24 * 3600
API_PREFIX = "/api/"

TokenIssuer = Callable[[UserRef, int], str]


def create_http_app(
    probe: HealthProbe, demo_page: bool, dev_tokens: TokenIssuer | None,
    api_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """``dev_tokens`` signs tokens for anyone who asks: given only in development mode.
    ``api_routes``: the ``/api/v1`` and media routes, whose unknown paths and wrong methods
    are answered with envelopes too."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await probe.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz),
                               *api_routes]

    if dev_tokens is not None:
        issue = dev_tokens

        async def dev_token(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = None
            user_type = UserType.parse(body.get("type")) if isinstance(body, dict) else None
            user_id = body.get("id") if isinstance(body, dict) else None
            if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit():
                user_id = int(user_id)
            if user_type is None or not is_valid_user_id(user_id):
                return JSONResponse(
                    {"error": 'expected {"type": "customer" | "vendor", "id": <positive int>}'},
                    status_code=400,
                )
            assert isinstance(user_id, int)
            return JSONResponse({"token": issue(UserRef(user_type, user_id), DEV_TOKEN_TTL_S)})

        routes.append(Route("/dev/token", dev_token, methods=["POST"]))

    if demo_page:
        index = STATIC / "index.html"

        async def page(request: Request) -> Response:
            return FileResponse(index, headers={"Cache-Control": "no-cache"})

        routes += [Route("/", page), Mount("/static", StaticFiles(directory=STATIC))]

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return envelope(404, "Not found")
        return PlainTextResponse("Not Found", status_code=404)

    async def wrong_method(request: Request, exc: Exception) -> Response:
        allowed = dict(getattr(exc, "headers", None) or {})  # Allow: the route's methods
        if request.url.path.startswith(API_PREFIX):
            response = envelope(405, "Method not allowed")
            response.headers.update(allowed)
            return response
        return PlainTextResponse("Method Not Allowed", status_code=405, headers=allowed)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: wrong_method})
