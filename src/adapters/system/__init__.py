"""Time and ids from the operating system."""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING


class SystemClock:
    def now(self) -> datetime:
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ObjectIdGenerator:
    """24-hex ids in MongoDB's ObjectId layout: 4 bytes of seconds, 5 random bytes of this
    process, a 3-byte counter; so ids sort by creation time in every storage."""

    def __init__(self) -> None:
        self._process = os.urandom(5).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def new_id(self) -> str:
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._process}{next(self._counter) & 0xFFFFFF:06x}"


if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from chat_server.application.ports import Clock, IdGenerator

    def _conforms() -> None:
        clock: Clock = SystemClock()
        ids: IdGenerator = ObjectIdGenerator()
        del clock, ids
