"""Fixtures of the webhook tests: a receiver, outboxes on memory or MongoDB, and dispatcher
"nodes" with the real aiohttp sender and short test timings."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
import pytest_asyncio
from motor.motor_asyncio import AsyncIOMotorClient
from webhook_receiver import WebhookReceiver

from chat_server.adapters.memory import InMemoryOutbox
from chat_server.adapters.mongo import MongoOutbox, create_mongo_client, ensure_indexes
from chat_server.adapters.system import ObjectIdGenerator, SystemClock
from chat_server.adapters.webhooks import AiohttpWebhookSender
from chat_server.application.outbox import Outbox, OutboxItem, new_outbox_item
from chat_server.application.webhooks import RetryPolicy, WebhookDispatcher

SECRET = "integration-webhook-secret-0123456789abcdef"
# 50 ms doubling up to 400 ms: the production policy (1 s .. 10 min) scaled down.
FAST_RETRY = RetryPolicy(initial_delay_s=0.05, max_delay_s=0.4, max_age_s=120)
CLOCK, IDS = SystemClock(), ObjectIdGenerator()


def new_item(kind: str = "message.created", **data: Any) -> OutboxItem:
    return new_outbox_item(IDS, CLOCK, kind, data or {"chatId": IDS.new_id()})


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0) -> None:
    """Until ``condition()`` holds (for facts the receiver does not announce, such as the
    outbox being empty); checked every 10 ms."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


@attrs.define
class Node:
    """One server node's delivery: its dispatcher, sender and outbox view."""

    dispatcher: WebhookDispatcher
    sender: AiohttpWebhookSender
    outbox: Outbox
    task: asyncio.Task[None]


class Nodes:
    """Starts dispatchers for a test and stops them all at its end."""

    def __init__(self) -> None:
        self._nodes: list[Node] = []

    async def start(self, outbox: Outbox, url: str, *, timeout_s: float = 0.5,
                    lease_s: float = 2.0, concurrency: int = 4, poll_interval_s: float = 0.05,
                    owner: str | None = None) -> Node:
        sender = AiohttpWebhookSender(timeout_s=timeout_s, connections=concurrency)
        await sender.start()
        dispatcher = WebhookDispatcher(
            outbox, sender, CLOCK, IDS, url=url, secret=SECRET, owner=owner,
            concurrency=concurrency, poll_interval_s=poll_interval_s, lease_s=lease_s,
            retry=FAST_RETRY, stop_grace_s=2.0)
        node = Node(dispatcher, sender, outbox, asyncio.create_task(dispatcher.run_forever()))
        self._nodes.append(node)
        return node

    async def kill(self, node: Node) -> None:
        """The node dies: its loop and in-flight requests are cancelled, leases held."""
        node.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await node.task

    async def close_all(self) -> None:
        for node in self._nodes:
            if not node.task.done():
                await node.dispatcher.stop()
                await node.task
            await node.sender.stop()


@pytest_asyncio.fixture
async def nodes() -> AsyncIterator[Nodes]:
    started = Nodes()
    yield started
    await started.close_all()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A receiver that is up; ``absent_receiver`` is one that is not (yet)."""
    up = await WebhookReceiver().start()
    yield up
    await up.stop()


@pytest_asyncio.fixture
async def absent_receiver() -> AsyncIterator[WebhookReceiver]:
    down = WebhookReceiver()
    yield down
    await down.stop()


class Storage:
    """``outbox()`` is one more node's view of the shared outbox: for MongoDB a new motor
    client each time (as another process would have), for memory the one instance."""

    def __init__(self, kind: str, mongo_url: str | None = None, database: str | None = None
                 ) -> None:
        self.kind = kind
        self._memory = InMemoryOutbox()
        self._mongo_url, self._database = mongo_url, database
        self._clients: list[AsyncIOMotorClient[Any]] = []

    async def outbox(self) -> Outbox:
        if self.kind == "memory":
            return self._memory
        assert self._mongo_url is not None and self._database is not None
        client = create_mongo_client(self._mongo_url)
        self._clients.append(client)
        await ensure_indexes(client[self._database])
        return MongoOutbox(client[self._database])

    def close_client(self, index: int) -> None:
        self._clients[index].close()

    async def close(self) -> None:
        for client in self._clients:
            client.close()
        if self._clients:  # with a client of its own: a test may have closed the others
            cleaner = create_mongo_client(self._mongo_url or "")
            await cleaner.drop_database(self._database or "")
            cleaner.close()


@pytest_asyncio.fixture(params=["memory", "mongo"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "memory":
        made = Storage("memory")
    else:
        made = Storage("mongo", request.getfixturevalue("mongo_url"),
                       request.getfixturevalue("mongo_database_name"))
    yield made
    await made.close()


@pytest_asyncio.fixture
async def mongo_storage(mongo_url: str, mongo_database_name: str) -> AsyncIterator[Storage]:
    made = Storage("mongo", mongo_url, mongo_database_name)
    yield made
    await made.close()
