"""The ``WebhookSender`` port over aiohttp: one ClientSession per process, opened at start
and closed at stop (a resource of the composition root)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from chat_server.application.outbox import WebhookTransportError

DEFAULT_TIMEOUT_S = 5.0
# The receiver's answer is read up to this much, then dropped: nobody reads it, and a
# receiver that streams gigabytes must not hold a delivery slot or memory.
MAX_RESPONSE_BYTES = 4096
USER_AGENT = "chat-server-webhooks/1"


class AiohttpWebhookSender:
    """POSTs with a total timeout (connect, send, answer and the read of its first bytes),
    no redirects, no cookies, no proxy from the environment. ``connections`` bounds the
    open connections (the dispatcher's concurrency is the natural value)."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, connections: int = 8) -> None:
        self._timeout_s = timeout_s
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
            )

    async def stop(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> AiohttpWebhookSender:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if self._session is None:
            raise RuntimeError("AiohttpWebhookSender.send before start()")
        try:
            async with self._session.post(url, data=body, headers=dict(headers),
                                          allow_redirects=False) as response:
                read = 0
                while read < MAX_RESPONSE_BYTES:
                    chunk = await response.content.read(MAX_RESPONSE_BYTES - read)
                    if not chunk:
                        break
                    read += len(chunk)
                return response.status
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors too
            raise WebhookTransportError(f"no answer within {self._timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise WebhookTransportError(_describe(exc, url)) from None


def _describe(exc: aiohttp.ClientError, url: str) -> str:
    """One line naming the failure, without the URL's user and password."""
    text = (str(exc).splitlines() or [""])[0][:300]
    parts = urlsplit(url)
    if parts.password or parts.username:
        text = text.replace(url, parts._replace(netloc=parts.hostname or "").geturl())
        for secret in (parts.password, parts.username):
            if secret:
                text = text.replace(secret, "***")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def webhook_sender(
    timeout_s: float = DEFAULT_TIMEOUT_S, connections: int = 8
) -> AsyncIterator[AiohttpWebhookSender]:
    """For ``providers.Resource``: a started sender, stopped at shutdown."""
    sender = AiohttpWebhookSender(timeout_s, connections)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.outbox import WebhookSender

    _check: WebhookSender = AiohttpWebhookSender()
