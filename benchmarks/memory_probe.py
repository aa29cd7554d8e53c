"""Where the memory per connected user goes: scenario 3's load (``loadgen.js connections``)
against the service run in this process, as ``chat-server`` runs it (uvloop, httptools,
uvicorn's sans-I/O WebSocket, memory storage).

It prints the RSS per user over the idle process, as bench.py reads it at the load
generator's MARK lines; with ``--trace`` (tracemalloc, which makes the process several
times larger and slower) also the Python memory still allocated per user, by the line (or
with ``--frames N``, the call stack) that allocated it, largest first. Freed memory that the
allocator keeps does not show there, so RSS is the figure to compare; the table says what
to look at.

    python benchmarks/memory_probe.py [--users 3000]
    python benchmarks/memory_probe.py --trace [--users 1000 --frames 12 --top 40]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from pathlib import Path

from bench import HIGH, SECRET, free_port

from chat_server.entrypoints.app import create_app
from chat_server.entrypoints.serving import ChatServer, bind_listeners, server_config
from chat_server.entrypoints.settings import Settings

HERE = Path(__file__).resolve().parent
HOLD_S = 5  # the load generator keeps its users this long after MARK connected


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _short(filename: str) -> str:
    """A path from its package on: ``uvicorn/...``, ``entrypoints/...``, ``asyncio/...``."""
    for marker in ("site-packages/", "/src/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    parts = Path(filename).parts
    return "/".join(parts[-2:])


async def probe(opts: argparse.Namespace) -> None:
    port = free_port()
    settings = Settings.load({
        "CHAT_PORT": str(port), "CHAT_JWT_SECRET": SECRET, "CHAT_LOG_LEVEL": "warning",
        "CHAT_SEND_RATE": HIGH, "CHAT_SEND_BURST": "1000000", "CHAT_REQUEST_RATE": HIGH,
        "CHAT_REQUEST_BURST": "1000000", "CHAT_STORAGE": "memory"})
    app = create_app(settings)
    await app.startup()
    config = server_config(app=app.asgi, host=settings.host, port=port, lifespan="off",
                           log_level="warning", ws_max_size=settings.max_packet_bytes,
                           http="httptools", ws="auto", loop="none", server_header=False,
                           ws_per_message_deflate=settings.ws_compression)
    server = ChatServer(config, app, 1.0, lambda: None)
    serving = asyncio.create_task(server.serve(sockets=bind_listeners(settings.host, port)))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.05)
    loadgen = await asyncio.create_subprocess_exec(
        "node", str(HERE / "loadgen.js"), "connections", "--url", f"http://127.0.0.1:{port}",
        "--secret", SECRET, "--users", str(opts.users), "--hold", str(HOLD_S),
        stdout=asyncio.subprocess.PIPE)
    assert loadgen.stdout is not None
    marks: dict[str, tuple[int, tracemalloc.Snapshot | None]] = {}
    result = ""
    async for raw in loadgen.stdout:
        line = raw.decode()
        if line.startswith("MARK "):
            gc.collect()
            snapshot = tracemalloc.take_snapshot() if opts.trace else None
            marks[line.split()[1]] = (rss_kb(), snapshot)
        elif line.startswith("RESULT "):
            result = line[len("RESULT "):200]
    await loadgen.wait()
    server.should_exit = True
    await serving
    await app.shutdown()
    print(result)
    (idle, before), (connected, after) = marks["idle"], marks["connected"]
    print(f"RSS per user: {(connected - idle) / opts.users:.2f} KB ({opts.users} users)")
    if before is None or after is None:
        return
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(ignored).compare_to(before.filter_traces(ignored),
                                                    "traceback" if opts.frames > 1 else "lineno")
    print(f"traced per user: {sum(s.size_diff for s in stats) / opts.users:.0f} B in "
          f"{sum(s.count_diff for s in stats) / opts.users:.1f} blocks")
    for stat in stats[:opts.top]:
        frames = [f"{_short(f.filename)}:{f.lineno}" for f in stat.traceback]
        print(f"{stat.size_diff / opts.users:8.1f} B {stat.count_diff / opts.users:6.2f} blocks  "
              + " <- ".join(frames))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc: per-line table")
    parser.add_argument("--frames", type=int, default=1, help="call stack depth per entry")
    parser.add_argument("--top", type=int, default=40)
    opts = parser.parse_args()
    if opts.trace:
        tracemalloc.start(opts.frames)
    import uvloop

    uvloop.run(probe(opts))


if __name__ == "__main__":
    main()
