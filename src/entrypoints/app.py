"""``create_app(settings)``: the ASGI application (Socket.IO + HTTP on one port) and the
container behind it, with explicit start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import socketio

from chat_server.adapters.media.fs import FsMediaStore
from chat_server.application.uploads import SweepUnattached
from chat_server.domain.errors import StorageUnavailable
from chat_server.domain.model import UserRef
from chat_server.entrypoints.auth import issue_token
from chat_server.entrypoints.container import Container, build_container
from chat_server.entrypoints.http.api.me import me_routes
from chat_server.entrypoints.http.api.openapi import openapi_route
from chat_server.entrypoints.http.api.server import server_api_routes
from chat_server.entrypoints.http.app import create_http_app
from chat_server.entrypoints.http.debug import debug_stats_route
from chat_server.entrypoints.http.media import UploadRoutesConfig, media_routes
from chat_server.entrypoints.http.metrics import metrics_route
from chat_server.entrypoints.observability.sources import (
    watch_drain,
    watch_sockets,
    watch_webhooks,
)
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio import wire

logger = logging.getLogger("chat_server")

# Uploads never sent are looked for this often (each run removes at most SweepUnattached's
# limit; the next run goes on).
SWEEP_INTERVAL_S = 600.0


T = TypeVar("T")


async def resolved(provided: T | Awaitable[T]) -> T:
    """What a provider gave: providers that depend on an async resource (the Redis and
    MongoDB clients) give an awaitable."""
    if inspect.isawaitable(provided):
        return await provided
    return provided


class ChatApp:
    """What a server process runs: ``await startup()``, serve ``asgi``, ``await shutdown()``.

    The ASGI application exists once started: what it serves depends on resources (the
    storage and Redis clients) that only exist from then on.
    """

    def __init__(self, settings: Settings, container: Container) -> None:
        self.settings = settings
        self.container = container
        self._reaper: asyncio.Task[None] | None = None
        self._webhooks: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False  # ends the loops even if a cancellation is lost in a client
        self._asgi: Any = None

    @property
    def asgi(self) -> Any:
        if self._asgi is None:
            raise RuntimeError("ChatApp.asgi is served once startup() has run")
        return self._asgi

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
        await self.container.coordination.start()
        (await resolved(self.container.gateway())).bind()
        dev_tokens = self.dev_token if self.settings.dev_mode else None
        probe = await resolved(self.container.health())
        api = await resolved(self.container.server_api())
        verifier = await resolved(self.container.verifier())
        api_routes = [
            *server_api_routes(api),
            *me_routes(verifier, api.counters),
            *await self._media_routes(verifier),
            openapi_route(),
        ]
        if self.settings.debug_stats:
            api_routes.append(debug_stats_route(
                self._counts(self.container.sio(), await resolved(self.container.gateway()))))
        metrics = self.container.metrics()
        if metrics is not None:  # GET /metrics (CHAT_METRICS)
            watch_sockets(metrics, self.container.sio(), await resolved(self.container.lifecycle()))
            watch_drain(metrics, lambda: self.container.drain().draining)
            api_routes.append(metrics_route(metrics))
        http = create_http_app(probe, self.settings.demo_page, dev_tokens, api_routes)
        self._asgi = socketio.ASGIApp(self.container.sio(), other_asgi_app=http)
        if self.settings.redis_url:
            self._reaper = asyncio.create_task(self._reap_forever(), name="presence-reaper")
        dispatcher = await resolved(self.container.webhook_dispatcher())
        if dispatcher is not None:
            if metrics is not None:
                watch_webhooks(metrics, dispatcher.stats, lambda: dispatcher.circuit.is_open)
            self._webhooks = asyncio.create_task(dispatcher.run_forever(), name="webhooks")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="media-sweep")

    async def _media_routes(self, verifier: Any) -> list[Any]:
        """Attachments: the store is ready (its directory exists), messages carry signed
        URLs, uploads and media are served."""
        store = await resolved(self.container.storage.media_store())
        if isinstance(store, FsMediaStore):
            await asyncio.to_thread(store.prepare)
        urls = await resolved(self.container.media_urls())
        wire.use_media_links(urls)
        config = UploadRoutesConfig(self.settings.media_max_receiving,
                                    self.settings.media_receive_timeout_s)
        return media_routes(await resolved(self.container.upload_attachment()),
                            await resolved(self.container.read_attachment()),
                            verifier, urls, config)

    async def _sweep_forever(self) -> None:
        """Uploads never sent go once CHAT_MEDIA_UNATTACHED_TTL_S has passed."""
        sweep = await resolved(self.container.sweep_unattached())
        interval = min(SWEEP_INTERVAL_S, max(1.0, self.settings.media_unattached_ttl_s / 4))
        while not self._stopping:
            try:
                removed = await sweep(SweepUnattached())
                if removed:
                    logger.info("removed %d uploads that were never sent", removed)
            except StorageUnavailable as exc:
                logger.warning("sweeping unsent uploads: %s", exc)
            except Exception:  # the loop outlives any one failure
                logger.exception("sweeping unsent uploads failed")
            await asyncio.sleep(interval)

    @staticmethod
    def _counts(sio: Any, gateway: Any) -> Callable[[], dict[str, int]]:
        def counts() -> dict[str, int]:
            return {"engineSessions": len(sio.eio.sockets),
                    "connections": len(gateway.lifecycle.connections)}

        return counts

    async def _reap_forever(self) -> None:
        """Users of a server node that died go offline once their leases run out."""
        tracker = (await resolved(self.container.use_cases())).presence
        settler = await resolved(self.container.settler())
        interval = max(0.2, self.settings.presence_lease_s / 6)
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                for gone in (await tracker.reap()).result:
                    settler.schedule(gone)
            except StorageUnavailable as exc:
                logger.warning("reaping expired presence: %s", exc)
            except Exception:  # the loop outlives any one failure
                logger.exception("reaping expired presence failed")

    async def drain(self, deadline: float) -> None:
        """SIGTERM (``serving.ChatServer``): readiness off, new handshakes refused, every
        Engine.IO session closed once its event in flight is answered, by ``deadline``
        (``loop.time()``) at the latest; ``shutdown()`` then flushes and closes."""
        if self._asgi is not None:
            await self.container.drain().drain(self.container.sio(), deadline)

    async def shutdown(self) -> None:
        self._stopping = True
        for task in (self._reaper, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        wire.use_media_links(None)
        if self._asgi is not None:
            await (await resolved(self.container.settler())).close()
            await (await resolved(self.container.confirmations())).close()
        if self._webhooks is not None:
            dispatcher = await resolved(self.container.webhook_dispatcher())
            if dispatcher is not None:
                await dispatcher.stop()
            await self._webhooks
        await self.container.coordination.stop()
        closed = self.container.shutdown_resources()
        if closed is not None:
            await closed


def create_app(settings: Settings) -> ChatApp:
    return ChatApp(settings, build_container(settings))
