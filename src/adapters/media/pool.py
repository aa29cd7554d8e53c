"""A bounded pool of workers for CPU-heavy media jobs, off the event loop.

At most ``workers`` jobs run at once and at most ``max_waiting`` wait for a worker; one
more is refused at once with ``MediaBusy`` (a 503: retry shortly) instead of queueing
without bound. A job counts until its worker is done with it, even when the request that
asked for it was cancelled meanwhile (the worker cannot be interrupted), so the bound holds.

Workers are processes by default: started with ``spawn`` (never forked from a process that
runs threads), each with an address-space ceiling (``WORKER_ADDRESS_SPACE``), so a file
that makes a decoder misbehave costs a worker, not the service. A pool whose worker died
is replaced; the jobs it held fail with ``UnsupportedMedia``. Workers run at a lower
priority (``WORKER_NICENESS``) so that the chat keeps the CPU. ``processes=False`` uses
threads instead (Pillow releases the GIL while decoding and resizing, not in the Python
parts of the checks): for measurements and tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from chat_server.domain.media import MediaBusy, UnsupportedMedia

logger = logging.getLogger("chat_server.media")

T = TypeVar("T")
# A worker holds at most one upload (20 MB), its decoded pixels (40 MP x 4 bytes) and the
# resampling buffers; 2 GiB of address space is several times that.
WORKER_ADDRESS_SPACE = 2 * 2**30
# Fresh workers now and then: long-lived image decoders fragment their heap.
TASKS_PER_WORKER = 500
# Workers yield the CPU to the event loop: an 8 MP photo is ~0.4 s of CPU, and two workers
# at the loop's priority took both cores of a 2-core node from the chat (p99 8.7x with
# uploads; 1.03x at this niceness, docs/performance.md "Uploads under chat load").
WORKER_NICENESS = 10


def _limit_worker() -> None:
    """Runs first in each worker process."""
    with contextlib.suppress(OSError, AttributeError):  # not allowed, or not on this platform
        os.nice(WORKER_NICENESS)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    except (ImportError, ValueError, OSError):  # not on this platform, or not allowed
        pass


def _ready() -> bool:
    return True


class MediaWorkerPool:
    def __init__(self, workers: int, max_waiting: int, processes: bool = True) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError("a pool needs at least one worker and a non-negative queue")
        self._workers = workers
        self._capacity = workers + max_waiting
        self._processes = processes
        self._executor: concurrent.futures.Executor | None = None
        self._jobs = 0  # submitted and not finished by their worker

    @property
    def jobs(self) -> int:
        return self._jobs

    def _new_executor(self) -> concurrent.futures.Executor:
        if not self._processes:
            return concurrent.futures.ThreadPoolExecutor(self._workers, "media-worker")
        return concurrent.futures.ProcessPoolExecutor(
            self._workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_limit_worker, max_tasks_per_child=TASKS_PER_WORKER,
        )

    async def start(self) -> None:
        """Start the workers and wait until each answers, so the first upload does not
        pay for starting a process."""
        if self._executor is not None:
            return
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready)
                               for _ in range(self._workers)))

    async def stop(self) -> None:
        """Cancel waiting jobs and wait for running ones (bounded by the jobs' own size)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker (it and its arguments must pickle)."""
        executor = self._executor
        if executor is None:
            raise RuntimeError("the media worker pool is not started")
        if self._jobs >= self._capacity:
            raise MediaBusy(f"{self._jobs} media jobs are running or waiting")
        loop = asyncio.get_running_loop()
        try:
            future = executor.submit(function, *args)
        except BrokenProcessPool:
            self._replace(executor)
            raise UnsupportedMedia("The file could not be processed") from None
        self._jobs += 1
        future.add_done_callback(lambda _: _call_soon(loop, self._finished))
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            logger.error("a media worker died; starting new ones")
            self._replace(executor)
            raise UnsupportedMedia("The file could not be processed") from None

    def _finished(self) -> None:
        self._jobs -= 1

    def _replace(self, broken: concurrent.futures.Executor) -> None:
        if self._executor is broken:
            self._executor = self._new_executor()
            broken.shutdown(wait=False, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """From the executor's thread; a loop closed meanwhile has nobody left to count for."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)
