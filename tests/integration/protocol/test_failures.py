"""Storage faults and bugs: the service in this process, with a storage provider overridden
(as tests should: no module patching), driven by real clients over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from dependency_injector import providers
from service_support import SECRET, Client, free_port, http_json

from chat_server.adapters.memory import InMemoryChatRepository
from chat_server.domain.errors import StorageUnavailable
from chat_server.entrypoints.app import ChatApp
from chat_server.entrypoints.container import build_container
from chat_server.entrypoints.settings import Settings


class FaultyChats(InMemoryChatRepository):
    """Chats that fail on ``get`` while ``fault`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fault: Exception | None = None

    async def get(self, chat_id: str) -> Any:
        if self.fault is not None:
            raise self.fault
        return await super().get(chat_id)


class FaultyProbe:
    def __init__(self, chats: FaultyChats) -> None:
        self._chats = chats

    async def ready(self) -> bool:
        return self._chats.fault is None


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[str, FaultyChats]]:
    settings = Settings(jwt_secret=SECRET, port=free_port(), presence_grace_s=1.0)
    container = build_container(settings)
    chats = FaultyChats()
    container.storage.chats.override(providers.Object(chats))
    container.storage.health.override(providers.Object(FaultyProbe(chats)))
    app = ChatApp(settings, container)
    await app.startup()
    server = uvicorn.Server(uvicorn.Config(app.asgi, host="127.0.0.1", port=settings.port,
                                           lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{settings.port}", chats
    server.should_exit = True
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(task, 5)
    await app.shutdown()


async def test_a_failing_handler_answers_500_without_internals_and_others_carry_on(
    faulty: tuple[str, FaultyChats], caplog: pytest.LogCaptureFixture
):
    url, chats = faulty
    customer = await Client(url, "customer", 1).connect()
    vendor = await Client(url, "vendor", 2).connect()
    sent = await customer.call("sendMessage", {"recipientId": 2, "productId": "p", "text": "a"})
    chat_id = sent["data"]["id"]
    chats.fault = RuntimeError("secret internal detail")
    with caplog.at_level(logging.ERROR, logger="chat_server.gateway"):
        ack = await customer.call("getMessages", {"chatId": chat_id})
    assert ack == {"statusCode": 500, "error": True, "message": "An internal error occurred",
                   "data": {"event": "getMessages"}}
    assert "secret internal detail" not in str(await customer.next("appError"))
    assert "getMessages" in caplog.text and "customer:1" in caplog.text
    chats.fault = None
    ok = await vendor.call("getMessages", {"chatId": chat_id})
    assert ok["statusCode"] == 200
    assert (await customer.call("getMessages", {"chatId": chat_id}))["statusCode"] == 200
    await customer.close()
    await vendor.close()


async def test_storage_down_is_503_and_not_ready_and_recovers(faulty: tuple[str, FaultyChats]):
    url, chats = faulty
    customer = await Client(url, "customer", 3).connect()
    await Client(url, "vendor", 4).connect()
    sent = await customer.call("sendMessage", {"recipientId": 4, "productId": "p", "text": "a"})
    chats.fault = StorageUnavailable("mongo went away")
    ack = await customer.call("sendMessage", {"chatId": sent["data"]["id"], "text": "b"})
    assert ack["statusCode"] == 503 and ack["data"] == {"event": "sendMessage"}
    assert "mongo" not in ack["message"]
    status, _ = await asyncio.to_thread(http_json, f"{url}/readyz")
    assert status == 503
    chats.fault = None
    status, _ = await asyncio.to_thread(http_json, f"{url}/readyz")
    assert status == 200
    ack = await customer.call("sendMessage", {"chatId": sent["data"]["id"], "text": "b"})
    assert ack["statusCode"] == 200 and ack["data"]["seq"] == 2
    await customer.close()
