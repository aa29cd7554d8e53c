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
    """

    def new_id(self) -> str:
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{os.urandom(8).hex()}"


if TYPE_CHECKING:  # mypy proves here that the adapters conform to the ports structurally
    from chat_server.application.ports import Clock, IdGenerator

    def _conforms() -> None:
        clock: Clock = SystemClock()
        ids: IdGenerator = ObjectIdGenerator()
        del clock, ids
