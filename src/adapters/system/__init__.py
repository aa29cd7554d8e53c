"""Time and ids from the operating system."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING


class SystemClock:
    def now(self) -> datetime:
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ObjectIdGenerator:
    """24-hex ids in MongoDB's ObjectId size: 4 bytes of seconds, then 8 random bytes.

    The time prefix keeps ids roughly in creation order; the 64 random bits make an id
    unguessable from any other (an ObjectId's per-process constant and counter are not).
    They come from ``os.urandom`` (the kernel's CSPRNG) in blocks of ``POOL_IDS`` ids' worth:
    one ``getrandom`` system call per id cost about 5 % of a send's CPU time. Each block is
    hex-encoded once and handed out 16 characters at a time; no part of it is used twice.
    A pool made before a ``fork`` would repeat in the child: the service spawns its worker
    processes, it never forks with a pool.
    """

    POOL_IDS = 256

    def __init__(self) -> None:
        self._pool = ""
        self._next = 0

    def new_id(self) -> str:
        at = self._next
        if at >= len(self._pool):
            self._pool, at = os.urandom(8 * self.POOL_IDS).hex(), 0
        self._next = at + 16
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._pool[at:at + 16]}"


if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from chat_server.application.ports import Clock, IdGenerator

    def _conforms() -> None:
        clock: Clock = SystemClock()
        ids: IdGenerator = ObjectIdGenerator()
        del clock, ids
