"""The metrics' own cost per message, in one process and without sockets: ``sendMessage``
through the service's dispatch path (rate limits, the use case on in-memory storage, the
publisher and its subscribers, the ack) on two apps built side by side, ``CHAT_METRICS=0``
and ``=1``, in alternating blocks of sends; CPU time per send (``time.process_time``).
Alternating short blocks puts both under the same spells of a noisy machine; what this
leaves out (Engine.IO, WebSocket frames) the metrics do not touch either.

    python benchmarks/metrics_micro.py [--blocks 60] [--sends 300]

Instructions rather than CPU time, which no noise moves (valgrind; the difference between
two runs is the cost of the extra sends):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python benchmarks/metrics_micro.py --single on --sends 1200     # and 200, and off
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from chat_server.domain.model import UserRef, UserType
from chat_server.entrypoints.app import ChatApp, create_app, resolved
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio.connection import Connection, ConnState

HIGH = "100000000/10s"


async def started(metrics: bool) -> tuple[ChatApp, Any, Connection]:
    settings = Settings.load({
        "CHAT_JWT_SECRET": "micro-benchmark-secret-0123456789", "CHAT_METRICS": str(int(metrics)),
        "CHAT_SEND_RATE": HIGH, "CHAT_SEND_BURST": "100000000", "CHAT_REQUEST_RATE": HIGH,
        "CHAT_REQUEST_BURST": "100000000", "CHAT_LOG_LEVEL": "warning"})
    app = create_app(settings)
    await app.startup()
    dispatcher = await resolved(app.container.dispatcher())
    conn = Connection("sid-c", "eio-c", UserRef(UserType.CUSTOMER, 1), "/chat",
                      time.time() + 3600, state=ConnState.OPEN)
    return app, dispatcher, conn


# The same recipient and product: every send after the first finds the chat.
BODY = {"recipientId": 2, "productId": "sku", "text": "a message"}


async def block_us(dispatcher: Any, conn: Connection, sends: int) -> float:
    begun = time.process_time()
    for n in range(sends):
        await dispatcher.handle(conn, n, "sendMessage", [BODY])
    return (time.process_time() - begun) / sends * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--single", choices=["on", "off"],
                        help="one app only, --sends sends, no timing (for valgrind)")
    opts = parser.parse_args()
    if opts.single:
        app, dispatcher, conn = await started(opts.single == "on")
        await block_us(dispatcher, conn, opts.sends)
        await app.shutdown()
        return
    apps = {metrics: await started(metrics) for metrics in (False, True)}
    for _, dispatcher, conn in apps.values():  # warm up: the chat exists, caches are filled
        await block_us(dispatcher, conn, opts.sends)
    times: dict[bool, list[float]] = {False: [], True: []}
    for n in range(opts.blocks):
        for metrics in ((False, True) if n % 2 == 0 else (True, False)):
            _, dispatcher, conn = apps[metrics]
            times[metrics].append(await block_us(dispatcher, conn, opts.sends))
    for app, _, _ in apps.values():
        await app.shutdown()
    off, on = times[False], times[True]
    paired = [b - a for a, b in zip(off, on, strict=True)]
    print(f"metrics off: min {min(off):.1f}, median {statistics.median(off):.1f} µs per send")
    print(f"metrics on:  min {min(on):.1f}, median {statistics.median(on):.1f} µs per send")
    print(f"added by the metrics: {min(on) - min(off):.1f} µs (min against min), "
          f"{statistics.median(paired):.1f} µs (median of {len(paired)} paired blocks)")


if __name__ == "__main__":
    asyncio.run(main())
