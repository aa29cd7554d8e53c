"""Engine.IO v4's heartbeat for one session, on one ``loop.call_later`` timer re-armed (not
a task per ping): the server PINGs every ``interval``; the client must PONG within
``timeout``, else ``expire`` is called (the session closes).

- **A PONG counts only after a PING that reached the client**: for long-polling, one that a
  GET returned; for a WebSocket, one handed to the transport (``send_ping`` returns True, or
  ``delivered`` is called later). An unsolicited PONG keeps nothing alive, so a polling
  client that never collects is closed after ``interval + timeout`` whatever it POSTs.
- **Time in handlers is not the client's.** python-socketio runs a session's events in
  order inside its reader (``async_handlers=False``): while a handler waits (a slow
  database), the client's PONG waits behind it, unread. ``handling`` / ``handled`` bracket
  each handler (two ``loop.time()`` calls, no timer); the time spent in handlers since the
  PING is added to the PONG deadline, and PINGs keep going out every ``interval`` meanwhile
  so that the client's own watchdog (``interval + timeout`` without a PING) stays fed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

_MIN_TIMER_S = 0.01
# ``handled`` asks the reader to yield after this much time in handlers: uvicorn hands the
# app every frame of one TCP read without suspending, so a client that pipelines large
# requests would otherwise hold the loop.
_YIELD_AFTER_S = 0.002


class Heartbeat:
    __slots__ = ("_awaiting_pong", "_busy", "_busy_at_yield", "_busy_since", "_busy_total",
                 "_delivered", "_expire", "_held_at_window", "_interval", "_last_ping_at",
                 "_loop", "_send_ping", "_stopped", "_timeout", "_timer", "_window_start")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, timeout: float,
                 send_ping: Callable[[], bool], expire: Callable[[], None]) -> None:
        self._loop = loop
        self._interval = interval
        self._timeout = timeout
        self._send_ping = send_ping
        self._expire = expire
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self._awaiting_pong = False
        self._delivered = False
        self._window_start = 0.0  # when the PING being waited for went out
        self._held_at_window = 0.0
        self._last_ping_at = 0.0
        self._busy = 0  # handlers running in the reader
        self._busy_since = 0.0
        self._busy_total = 0.0
        self._busy_at_yield = 0.0

    def start(self) -> None:
        """The next PING after ``interval`` (after the handshake, and after a good PONG)."""
        self._awaiting_pong = False
        self._arm(self._interval)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pong(self) -> None:
        if self._awaiting_pong and self._delivered:
            self.start()
        # else unsolicited: it keeps nothing alive

    def delivered(self) -> None:
        """The PING being waited for reached the client."""
        if self._awaiting_pong:
            self._delivered = True

    def handling(self) -> None:
        if not self._busy:
            self._busy_since = self._loop.time()
        self._busy += 1

    def handled(self) -> bool:
        """Ends one handler; True when the reader should yield to the loop now."""
        self._busy -= 1
        if not self._busy:
            self._busy_total += self._loop.time() - self._busy_since
        if self._busy_total - self._busy_at_yield > _YIELD_AFTER_S:
            self._busy_at_yield = self._busy_total
            return True
        return False

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._stopped:
            self._timer = self._loop.call_later(delay, self._tick)

    def _held(self, now: float) -> float:
        return self._busy_total + (now - self._busy_since if self._busy else 0.0)

    def _ping(self, now: float) -> None:
        self._last_ping_at = now
        if self._send_ping():
            self._delivered = True

    def _tick(self) -> None:
        self._timer = None
        if self._stopped:
            return
        now = self._loop.time()
        if not self._awaiting_pong:
            self._awaiting_pong = True
            self._delivered = False
            self._window_start = now
            self._held_at_window = self._held(now)
            self._ping(now)
            self._arm(self._timeout)
            return
        if self._delivered:
            held = self._held(now) - self._held_at_window
            deadline = self._window_start + self._timeout + held
            if self._busy or now < deadline:
                if now - self._last_ping_at >= self._interval:
                    self._ping(now)
                wait = self._timeout if self._busy else deadline - now
                self._arm(max(_MIN_TIMER_S, min(wait, self._last_ping_at + self._interval - now)))
                return
        self.stop()
        self._expire()
