"""Webhook delivery numbers: what an add costs the caller (the message path's share), and how
fast a backlog drains to a receiver that answers at once, on the in-memory outbox and on
MongoDB (SecantusDB, the test server).

    .venv/bin/python benchmarks/webhooks.py [--backlog 2000]

Uses the tests' receiver (uvicorn in this process) and SecantusDB starter.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from mongo_support import start_secantusdb
from service_support import free_port
from webhook_receiver import WebhookReceiver

from chat_server.adapters.memory import InMemoryOutbox
from chat_server.adapters.mongo import MongoOutbox, create_mongo_client, ensure_indexes
from chat_server.adapters.system import ObjectIdGenerator, SystemClock
from chat_server.adapters.webhooks import AiohttpWebhookSender
from chat_server.application.outbox import Outbox, new_outbox_item
from chat_server.application.webhooks import WebhookDispatcher

SECRET = "benchmark-webhook-secret-0123456789abcdef"
CLOCK, IDS = SystemClock(), ObjectIdGenerator()
DATA = {"chatId": "c" * 24, "recipientOnline": False,
        "message": {"id": "m" * 24, "text": "Is the red bike still available?" * 3, "seq": 1}}


async def add_latency(outbox: Outbox, count: int = 300) -> tuple[float, float]:
    """Milliseconds per ``add`` of one item, as a subscriber on the message path does it."""
    times = []
    for _ in range(count):
        item = new_outbox_item(IDS, CLOCK, "message.created", DATA)
        started = time.perf_counter()
        await outbox.add([item])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


async def drain(outboxes: list[Outbox], receiver: WebhookReceiver, backlog: int,
                concurrency: int) -> float:
    """Items per second delivered from a backlog of ``backlog`` items by one dispatcher per
    outbox (one node each)."""
    items = [new_outbox_item(IDS, CLOCK, "message.created", DATA) for _ in range(backlog)]
    for start in range(0, backlog, 500):
        await outboxes[0].add(items[start:start + 500])
    senders = [AiohttpWebhookSender(5.0, concurrency) for _ in outboxes]
    dispatchers = [WebhookDispatcher(o, s, CLOCK, IDS, url=receiver.url, secret=SECRET,
                                     concurrency=concurrency, poll_interval_s=0.1)
                   for o, s in zip(outboxes, senders, strict=True)]
    before = len(receiver.deliveries)
    started = time.perf_counter()
    for sender in senders:
        await sender.start()
    tasks = [asyncio.create_task(d.run_forever()) for d in dispatchers]
    await receiver.wait_for(lambda r: len(r.deliveries) - before >= backlog, timeout=3600)
    elapsed = time.perf_counter() - started
    for dispatcher in dispatchers:
        await dispatcher.stop()
    await asyncio.gather(*tasks)
    for sender in senders:
        await sender.stop()
    return backlog / elapsed


async def main(backlog: int, concurrency: int) -> None:
    receiver = await WebhookReceiver().start()
    memory = InMemoryOutbox()
    median, p99 = await add_latency(memory)
    print(f"memory outbox: add {median:.3f} ms median, {p99:.3f} ms p99")
    rate = await drain([memory], receiver, backlog, concurrency)
    print(f"memory outbox: {backlog} items drained at {rate:.0f}/s (concurrency {concurrency})")

    port = free_port()
    server = start_secantusdb(Path(tempfile.mkdtemp()) / "db", port)
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    clients = [create_mongo_client(url) for _ in range(2)]
    try:
        await ensure_indexes(clients[0]["bench"])
        one, two = MongoOutbox(clients[0]["bench"]), MongoOutbox(clients[1]["bench"])
        median, p99 = await add_latency(one)
        await clients[0]["bench"]["outbox"].delete_many({})
        print(f"mongo outbox (SecantusDB): add {median:.2f} ms median, {p99:.2f} ms p99")
        for size in (backlog // 10, backlog):
            rate = await drain([one], receiver, size, concurrency)
            print(f"mongo outbox (SecantusDB): {size} items drained at {rate:.0f}/s, one node")
        rate = await drain([one, two], receiver, backlog // 10, concurrency)
        print(f"mongo outbox (SecantusDB): {backlog // 10} items drained at {rate:.0f}/s, "
              "two nodes")
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(10)
        await receiver.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.backlog, args.concurrency))
