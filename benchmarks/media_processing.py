"""Media processing: time of one 8-megapixel photo, and how the event loop fares meanwhile,
with worker processes and with worker threads. ``.venv/bin/python benchmarks/media_processing.py``"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

import media_corpus as corpus

from chat_server.adapters.media.pillow import open_pillow_processor, process_upload
from chat_server.domain.media import MediaLimits

LIMITS = MediaLimits()
RUNS = 5


async def measure(processes: bool, photo: bytes, concurrent: int) -> None:
    async with open_pillow_processor(LIMITS, workers=2, max_waiting=8,
                                     processes=processes) as processor:
        await processor.process(photo, "warm.jpg")
        gaps: list[float] = []
        done = asyncio.Event()

        async def tick() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append((now - last) * 1000)
                last = now

        ticker = asyncio.create_task(tick())
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            await asyncio.gather(*(processor.process(photo, "p.jpg") for _ in range(concurrent)))
            times.append(time.perf_counter() - started)
        done.set()
        await ticker
        gaps.sort()
        print(f"{'processes' if processes else 'threads':9} x{concurrent}: "
              f"median {statistics.median(times) * 1000:.0f} ms per batch; loop tick (10 ms) "
              f"p50 {gaps[len(gaps) // 2]:.1f} ms, p99 {gaps[int(len(gaps) * 0.99)]:.1f} ms, "
              f"max {gaps[-1]:.1f} ms")


def main() -> None:
    photo = corpus.jpeg(3264, 2448)
    print(f"8 MP JPEG, {len(photo) / 2**20:.1f} MB")
    inline = []
    for _ in range(RUNS):
        started = time.perf_counter()
        process_upload(photo, "p.jpg", LIMITS)
        inline.append(time.perf_counter() - started)
    print(f"inline: median {statistics.median(inline) * 1000:.0f} ms")
    for processes in (True, False):
        for concurrent in (1, 2):
            asyncio.run(measure(processes, photo, concurrent))


if __name__ == "__main__":
    main()
