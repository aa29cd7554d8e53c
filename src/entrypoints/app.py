"""``create_app(settings)``: the ASGI application (Socket.IO + HTTP on one port) and the
container behind it, with explicit start-up and shutdown."""

from __future__ import annotations

from typing import Any

import socketio

from chat_server.domain.model import UserRef
from chat_server.entrypoints.auth import issue_token
from chat_server.entrypoints.container import Container, build_container
from chat_server.entrypoints.http.app import create_http_app
from chat_server.entrypoints.settings import Settings


class ChatApp:
    """What a server process runs: ``await startup()``, serve ``asgi``, ``await shutdown()``."""

    def __init__(self, settings: Settings, container: Container) -> None:
        self.settings = settings
        self.container = container
        self.gateway = container.gateway()
        dev_tokens = self.dev_token if settings.dev_mode else None
        http = create_http_app(container.storage.health(), settings.demo_page, dev_tokens)
        self.asgi: Any = socketio.ASGIApp(container.sio(), other_asgi_app=http)

    def dev_token(self, user: UserRef, ttl_seconds: int) -> str:
        """A token signed with this run's secret (development mode only)."""
        return issue_token(
            self.settings.verification_key, self.settings.jwt_algorithms[0], user, ttl_seconds,
            self.settings.jwt_audience, self.settings.jwt_issuer,
        )

    async def startup(self) -> None:
        """Open the storage (connect, wait for it, create indexes); raises
        ``StorageUnavailable`` when it does not answer in time."""
        initialised = self.container.init_resources()
        if initialised is not None:
            await initialised
        await self.container.storage.prepare()

    async def shutdown(self) -> None:
        closed = self.container.shutdown_resources()
        if closed is not None:
            await closed


def create_app(settings: Settings) -> ChatApp:
    return ChatApp(settings, build_container(settings))
