"""The media worker pool: image work never blocks the event loop, waiting jobs are bounded,
and a worker that dies is replaced. Real worker processes (spawned), as the service runs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import media_corpus as corpus
import pytest
import pytest_asyncio

from chat_server.adapters.media.pillow import PillowMediaProcessor, open_pillow_processor
from chat_server.adapters.media.pool import WORKER_NICENESS, MediaWorkerPool
from chat_server.domain.media import MediaBusy, MediaLimits, UnsupportedMedia


@pytest_asyncio.fixture(scope="module")
async def processor() -> AsyncIterator[PillowMediaProcessor]:
    async with open_pillow_processor(MediaLimits(), workers=1, max_waiting=1) as started:
        yield started


@pytest_asyncio.fixture
async def pool() -> AsyncIterator[MediaWorkerPool]:
    started = MediaWorkerPool(workers=1, max_waiting=1)
    await started.start()
    yield started
    await started.stop()


async def test_an_8_megapixel_photo_is_processed_while_the_event_loop_keeps_ticking(processor):
    photo = corpus.jpeg(3264, 2448)  # 8 megapixels
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    result = await processor.process(photo, "big.jpg")
    elapsed = time.perf_counter() - started
    done.set()
    await ticker
    assert (result.width, result.height) == (2048, 1536)
    # Loosely: ticks kept coming every 10 ms through the whole job (a blocked loop would
    # show one gap as long as the job), on a machine shared with other work.
    assert len(gaps) >= elapsed / 0.05, (len(gaps), elapsed)
    assert max(gaps) < max(0.25, elapsed / 2), (max(gaps), elapsed)


async def test_jobs_beyond_the_workers_and_the_queue_are_refused_at_once(pool):
    running = asyncio.create_task(pool.run(time.sleep, 0.5))
    waiting = asyncio.create_task(pool.run(time.sleep, 0.0))
    await asyncio.sleep(0)  # both submitted
    assert pool.jobs == 2
    with pytest.raises(MediaBusy):
        await pool.run(time.sleep, 0.0)
    await asyncio.gather(running, waiting)
    assert pool.jobs == 0
    await pool.run(time.sleep, 0.0)


def touch_then_sleep(path: str, seconds: float) -> None:
    """A job that says when a worker started it."""
    Path(path).touch()
    time.sleep(seconds)


async def test_a_cancelled_request_keeps_its_slot_until_its_worker_is_done(pool, tmp_path):
    started = tmp_path / "started"
    job = asyncio.create_task(pool.run(touch_then_sleep, str(started), 0.5))
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.01)
    assert started.exists()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert pool.jobs == 1  # the worker is still on it
    deadline = time.monotonic() + 10
    while pool.jobs and time.monotonic() < deadline:  # noqa: ASYNC110 - the pool has no event
        await asyncio.sleep(0.02)
    assert pool.jobs == 0


async def test_a_worker_that_dies_costs_its_job_only_and_is_replaced(pool):
    with pytest.raises(UnsupportedMedia, match="could not be processed"):
        await pool.run(os._exit, 3)
    assert await pool.run(sum, [1, 2, 3]) == 6


def _niceness() -> int:
    return os.nice(0)


async def test_media_workers_run_at_a_lower_priority_than_the_event_loop(pool):
    assert await pool.run(_niceness) == min(19, os.nice(0) + WORKER_NICENESS)
