"""What the entrypoint knows about one socket (one namespace of one client)."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from typing import Any

import attrs

from chat_server.application.use_cases import Caller
from chat_server.domain.model import UserRef

# (ack id, event name, arguments) of an event received before the connection was open.
Pending = tuple[int | None, str, list[Any]]


class Flag:
    """``asyncio.Event``'s ``set`` / ``is_set`` / ``wait``, without its deque of waiters
    (about 760 bytes) on every connection: a future is made only when someone waits."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        # Shielded: a waiter that gives up (wait_for's timeout) leaves it to the others.
        await asyncio.shield(self._waiter)


class ConnState(enum.Enum):
    """The life of a connection, in this order; any state may end in CLOSED.

    - AUTHENTICATED: the token was valid and the CONNECT is being answered.
    - AWAITING_PRESENCE: /chat only, waiting for the user's /presence connection; nothing
      was started yet, so a disconnect simply cancels the wait.
    - STARTING: the session is being set up (presence counted, offline messages ...); a
      disconnect waits for it to finish and then undoes it.
    - OPEN: events are dispatched as they arrive.
    """

    AUTHENTICATED = "authenticated"
    AWAITING_PRESENCE = "awaiting_presence"
    STARTING = "starting"
    OPEN = "open"
    CLOSED = "closed"


@attrs.define(eq=False)
class Connection:
    sid: str
    eio_sid: str  # the Engine.IO session: where acks are sent
    user: UserRef
    namespace: str
    expires_at: float  # epoch seconds of the token's exp
    state: ConnState = ConnState.AUTHENTICATED
    # Events that arrived before OPEN, answered in order once it is (bounded); made when
    # the first one arrives (most clients wait for the session before they send).
    backlog: deque[Pending] | None = None
    # Set once STARTING ended (in OPEN or not): what a disconnect waits for.
    settled: Flag = attrs.field(factory=Flag)
    setup: asyncio.Task[None] | None = None  # /chat: the presence gate and session set-up
    closing: asyncio.Task[None] | None = None  # closing on token expiry
    expiry: asyncio.TimerHandle | None = None
    last_rate_notice: float = -1e9

    def defer(self, pending: Pending, limit: int) -> bool:
        """Queues an event that arrived before OPEN; False when ``limit`` are queued."""
        if self.backlog is None:
            self.backlog = deque()
        if len(self.backlog) >= limit:
            return False
        self.backlog.append(pending)
        return True

    def next_deferred(self) -> Pending | None:
        if not self.backlog:
            self.backlog = None
            return None
        return self.backlog.popleft()

    @property
    def caller(self) -> Caller:
        return Caller(self.user, self.sid)

    @property
    def started(self) -> bool:
        """Whether the session was (being) set up, so that closing must undo it."""
        return self.state in (ConnState.STARTING, ConnState.OPEN)

    @property
    def closed(self) -> bool:
        return self.state is ConnState.CLOSED
