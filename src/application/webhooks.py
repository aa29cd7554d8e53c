"""Webhook delivery: a loop on every node that claims due outbox items, POSTs them signed,
and applies the retry policy of SERVER_API.md section 5.

Business rules:

- At least once: an item leaves the outbox only after a 2xx (``complete``), a drop or the
  end of its retry window (``give_up``). A node that dies mid-delivery leaves the item
  leased; once the lease runs out another node (or this one, restarted) delivers it again.
- 2xx delivered; a transport error (timeout, connection), 408, 429 or 5xx retried with
  exponential backoff (1 s doubling, at most 10 minutes apart) for 24 hours after the
  item was made; anything else (other 4xx, a 3xx: redirects are not followed) dropped and
  logged once.
- One item never blocks another: deliveries run concurrently (bounded), every failure of
  one item is caught, logged and turned into a retry.
- A receiver that is down is not hammered: after ``ReceiverCircuit.threshold`` failed
  deliveries in a row (a transport error, 408, 429 or 5xx) the loop stops claiming and
  sends one probe item after a pause (1 s, doubling up to 30 s) until one is answered;
  then deliveries resume at full concurrency. Items are kept meanwhile, nothing is lost.
- Internal kinds (``handlers``) are not POSTed: the handler runs when the item is due and
  returns the items to add (possibly none); they are added before the job is completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from chat_server.application.outbox import (
    Outbox,
    OutboxItem,
    WebhookSender,
    WebhookTransportError,
)
from chat_server.application.ports import Clock, IdGenerator
from chat_server.application.webhook_format import webhook_body, webhook_headers
from chat_server.domain.errors import StorageUnavailable

logger = logging.getLogger("chat_server.webhooks")

Handler = Callable[[OutboxItem], Awaitable[list[OutboxItem]]]
# Failures that are retried are summed up in one log line per this period.
FAILURE_LOG_PERIOD_S = 60.0


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DROPPED = "dropped"


def classify(status: int) -> Outcome:
    """SERVER_API.md: 2xx delivered; 408, 429, 5xx retried; every other status dropped."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in (408, 429) or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.DROPPED


@attrs.frozen
class RetryPolicy:
    """Exponential backoff: the n-th failure waits ``initial_delay_s * 2**(n-1)``, at most
    ``max_delay_s``; a failure ``max_age_s`` or more after the item was made ends it."""

    initial_delay_s: float = 1.0
    max_delay_s: float = 600.0
    max_age_s: float = 86_400.0

    def delay_s(self, attempts: int) -> float:
        """The wait after ``attempts`` failed tries (``attempts >= 1``)."""
        return min(self.initial_delay_s * 2.0 ** min(max(attempts - 1, 0), 64), self.max_delay_s)

    def next_due(self, created_at: datetime, now: datetime, attempts: int) -> datetime | None:
        """When to try again after the ``attempts``-th failure at ``now``; ``None``: give up.
        An item is always tried at least once, however old it is when first claimed (after
        a long outage of the service itself)."""
        if now - created_at >= timedelta(seconds=self.max_age_s):
            return None
        due = now + timedelta(seconds=self.delay_s(attempts))
        return due.replace(microsecond=due.microsecond // 1000 * 1000)  # what storage keeps


@attrs.define
class DispatchStats:
    """Counters since start, for logs, metrics and tests; each counts an outcome once the
    outbox recorded it."""

    delivered: int = 0
    retried: int = 0
    dropped: int = 0
    gave_up: int = 0
    evaluated: int = 0
    lost_leases: int = 0
    errors: int = 0
    circuit_opened: int = 0  # times the receiver was taken for down (ReceiverCircuit)


class ReceiverCircuit:
    """Whether the receiver is taken for down, from the outcomes of deliveries.

    Closed: every free slot may claim. After ``threshold`` receiver failures in a row it
    opens for ``pause`` (``initial_pause_s``, doubled by each failed probe, at most
    ``max_pause_s``); once that passed, one probe may go while nothing is in flight. Any
    answer that is not a receiver failure (a 2xx, a dropping 4xx) closes it.
    """

    def __init__(self, clock: Clock, threshold: int = 5, initial_pause_s: float = 1.0,
                 max_pause_s: float = 30.0) -> None:
        self._clock = clock
        self.threshold = threshold
        self._initial = initial_pause_s
        self._max = max_pause_s
        self._failures = 0
        self._pause = initial_pause_s
        self._until: datetime | None = None  # open until then
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._until is not None

    def answered(self) -> bool:
        """Records an answer; True when it closed the circuit."""
        was_open = self._until is not None
        self._failures, self._pause, self._until, self._probing = 0, self._initial, None, False
        return was_open

    def failed(self) -> bool:
        """Records a receiver failure; True when it opened the circuit."""
        self._failures += 1
        if self._until is not None:
            if self._probing:  # the probe failed: a longer pause (others were in flight)
                self._probing = False
                self._pause = min(self._pause * 2, self._max)
                self._until = self._clock.now() + timedelta(seconds=self._pause)
            return False
        if self._failures < self.threshold:
            return False
        self._until = self._clock.now() + timedelta(seconds=self._pause)
        return True

    def slots(self, free: int, in_flight: int) -> int:
        """How many items may be claimed now, of ``free`` slots."""
        if self._until is None:
            return free
        if free > 0 and in_flight == 0 and self._clock.now() >= self._until:
            self._probing = True
            return 1
        return 0

    def wait_s(self) -> float | None:
        """Seconds until a probe may go (None: closed)."""
        if self._until is None:
            return None
        return max(0.0, (self._until - self._clock.now()).total_seconds())


class _ThrottledWarning:
    """Repeated failures as one warning per period (a receiver down for an hour would
    otherwise log every attempt of every item)."""

    def __init__(self, clock: Clock, period_s: float, title: str) -> None:
        self._clock = clock
        self._period = timedelta(seconds=period_s)
        self._title = title
        self._since: datetime | None = None
        self._count = 0

    def note(self, latest: str, error: BaseException | None = None) -> None:
        """Count a failure; log it when the period is over. ``error``: an unexpected one,
        whose traceback goes with the report."""
        now = self._clock.now()
        self._count += 1
        if self._since is not None and now - self._since < self._period:
            return
        logger.warning("%s: %d time(s) since the last report; latest: %s", self._title,
                       self._count, latest, exc_info=error)
        self._since, self._count = now, 0


class WebhookDispatcher:
    """Delivers the outbox's items from one node; every node runs one.

    Wiring: ``run_forever()`` in a background task at start-up, ``await stop()`` at
    shutdown (or ``async with dispatcher.running():``). Whoever adds items on this node
    calls ``wake()`` afterwards (or adds through ``add``) so they go out at once; items
    added by other nodes and retries are found by polling every ``poll_interval_s``.
    ``lease_s`` must exceed the sender's timeout: a lease that runs out mid-request makes
    another node send the item too.
    """

    def __init__(
        self, outbox: Outbox, sender: WebhookSender, clock: Clock, ids: IdGenerator, *,
        url: str, secret: str, owner: str | None = None, concurrency: int = 8,
        poll_interval_s: float = 1.0, lease_s: float = 60.0,
        retry: RetryPolicy = RetryPolicy(), handlers: Mapping[str, Handler] | None = None,
        stop_grace_s: float = 10.0, failure_log_period_s: float = FAILURE_LOG_PERIOD_S,
    ) -> None:
        if concurrency < 1 or poll_interval_s <= 0 or lease_s <= 0:
            raise ValueError("concurrency, poll_interval_s and lease_s must be positive")
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._url = url
        self._secret = secret
        self.owner = owner or f"node-{ids.new_id()}"
        self._concurrency = concurrency
        self._poll_s = poll_interval_s
        self._lease_s = lease_s
        self._retry = retry
        self._handlers = dict(handlers or {})
        self._stop_grace_s = stop_grace_s
        self._failures = _ThrottledWarning(
            clock, failure_log_period_s, "webhook deliveries failed and are retried")
        self._storage_failures = _ThrottledWarning(
            clock, failure_log_period_s, "the webhook outbox failed")
        self.stats = DispatchStats()
        self.circuit = ReceiverCircuit(clock)
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._stopped: asyncio.Event | None = None

    # --- the API of the composition root ------------------------------------------------

    def wake(self) -> None:
        """Items were added on this node: claim at once instead of at the next poll."""
        self._wake.set()

    async def add(self, items: Sequence[OutboxItem]) -> int:
        """``Outbox.add`` then ``wake``: the subscriber's one call."""
        added = await self._outbox.add(items)
        self.wake()
        return added

    async def run_forever(self) -> None:
        """Claim and deliver until ``stop()``; never raises but ``CancelledError``.

        A cancellation is a node's death: in-flight deliveries are cancelled with their
        leases held, so other nodes take them over once the leases run out. A stopped
        dispatcher stays stopped (``run_forever`` then returns at once).
        """
        if self._stopped is not None and not self._stopped.is_set():
            raise RuntimeError("this dispatcher is already running")
        self._stopped = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        backlog = False  # the last claim filled every free slot: more is probably due
        try:
            while not self._stopping:
                free = self.circuit.slots(self._concurrency - len(tasks), len(tasks))
                if free == 0 and self.circuit.is_open:
                    self._wake.clear()  # what is added waits for the receiver
                # With a backlog, claim once half the slots are free rather than for every
                # delivery that ends: a claim costs one query whatever its size.
                elif free > 0 and (not backlog or 2 * free >= self._concurrency
                                   or self.circuit.is_open):  # a probe
                    self._wake.clear()
                    claimed = await self._claim(free)
                    for item in claimed:
                        task = asyncio.create_task(self._process(item))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    backlog = len(claimed) == free
                # A backlog: wait for slots. Otherwise nothing more is due here: wait for
                # an add on this node, a delivery to end, or the poll.
                await self._idle(tasks, busy=backlog and bool(tasks) and not self.circuit.is_open)
            await self._finish(tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Stop claiming, let in-flight deliveries end (at most ``stop_grace_s``, then they
        are cancelled and their leases run out), and return once ``run_forever`` returned."""
        self._stopping = True
        self._stop_requested.set()
        if self._stopped is not None:
            await self._stopped.wait()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookDispatcher]:
        """``run_forever`` in a task for the duration of the block, then ``stop``."""
        task = asyncio.create_task(self.run_forever())
        try:
            yield self
        finally:
            await self.stop()
            await task

    async def dispatch_once(self) -> int:
        """Claim what is due now (up to ``concurrency`` items), process it, return how many
        were claimed. For tests and tools, whatever the circuit says; the loop does this
        continuously."""
        items = await self._claim(self._concurrency)
        await asyncio.gather(*(self._process(item) for item in items))
        return len(items)

    # --- the loop -------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[OutboxItem]:
        try:
            return await self._outbox.claim(self.owner, self._clock.now(), limit, self._lease_s)
        except Exception as exc:  # storage down or a bug: the loop must survive both
            self.stats.errors += 1
            self._log_storage_error("claim", exc)
            return []

    async def _idle(self, tasks: set[asyncio.Task[None]], busy: bool) -> None:
        """Busy: wait for a delivery to end (a free slot). Otherwise wait for an add on this
        node, a delivery to end, or the poll. Always suspends, and ``stop()`` ends it."""
        waiters = {asyncio.create_task(self._stop_requested.wait())}
        if not busy:
            waiters.add(asyncio.create_task(self._wake.wait()))
        timeout = None if busy else self._poll_s
        probe_in = self.circuit.wait_s()
        if probe_in is not None and timeout is not None:
            timeout = min(timeout, max(probe_in, 0.001))
        try:
            await asyncio.wait(waiters | tasks, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _finish(self, tasks: set[asyncio.Task[None]]) -> None:
        if not tasks:
            return
        _, late = await asyncio.wait(set(tasks), timeout=self._stop_grace_s)
        for task in late:
            task.cancel()
        if late:
            logger.warning("stopped with %d webhook deliveries in flight; their leases run "
                           "out and they are delivered again", len(late))
            await asyncio.wait(late)

    async def _process(self, item: OutboxItem) -> None:
        """One item, start to end; whatever happens stays here."""
        try:
            handler = self._handlers.get(item.kind)
            if handler is not None:
                await self._evaluate(item, handler)
            else:
                await self._deliver(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the outbox failed us: the lease runs out, it is tried again
            self.stats.errors += 1
            self._log_storage_error(f"item {item.id} ({item.kind})", exc)

    async def _deliver(self, item: OutboxItem) -> None:
        try:
            body = webhook_body(item)
        except (TypeError, ValueError) as exc:
            await self._give_up(item, f"its data is not JSON ({exc})")
            self.stats.gave_up += 1
            return
        headers = webhook_headers(item, body, self._secret, int(self._clock.now().timestamp()))
        try:
            status = await self._sender.send(self._url, body, headers)
        except WebhookTransportError as exc:
            self._receiver_failed()
            await self._failed(item, str(exc) or type(exc).__name__)
            return
        except Exception as exc:  # a sender bug must not lose the item: retry it
            error = f"{type(exc).__name__}: {exc}"
            self._failures.note(f"{item.id} ({item.kind}, attempt {item.attempts + 1}): "
                                f"{error}", exc)
            await self._failed(item, error, log=False)
            return
        outcome = classify(status)
        if outcome is Outcome.RETRY:
            self._receiver_failed()
        elif self.circuit.answered():
            logger.warning("the webhook receiver answers again: deliveries resume")
        if outcome is Outcome.DELIVERED:
            await self._settled(item, await self._outbox.complete(item.id, self.owner))
            self.stats.delivered += 1
        elif outcome is Outcome.RETRY:
            await self._failed(item, f"HTTP {status}")
        else:
            redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
            await self._give_up(item, f"dropped: the receiver answered HTTP {status}{redirect}")
            self.stats.dropped += 1

    def _receiver_failed(self) -> None:
        if self.circuit.failed():
            self.stats.circuit_opened += 1
            logger.warning("the webhook receiver failed %d deliveries in a row: pausing "
                           "deliveries, probing with one item until it answers",
                           self.circuit.threshold)

    async def _evaluate(self, item: OutboxItem, handler: Handler) -> None:
        try:
            produced = await handler(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("job %s (%s) failed on attempt %d: %s: %s", item.id, item.kind,
                           item.attempts + 1, type(exc).__name__, exc,
                           exc_info=not isinstance(exc, StorageUnavailable))
            await self._failed(item, f"{type(exc).__name__}: {exc}", log=False)
            return
        if produced:
            # Added before the job is completed: a crash in between evaluates it again,
            # and derived ids (outbox.derived_item_id) make that second add a no-op.
            await self._outbox.add(produced)
            self._wake.set()
        await self._settled(item, await self._outbox.complete(item.id, self.owner))
        self.stats.evaluated += 1

    async def _failed(self, item: OutboxItem, error: str, log: bool = True) -> None:
        attempts = item.attempts + 1
        now = self._clock.now()
        due = self._retry.next_due(item.created_at, now, attempts)
        if due is None:
            age = (now - item.created_at).total_seconds()
            await self._give_up(item, f"gave up after {attempts} attempt(s) over {age:.0f} s; "
                                      f"last error: {error}")
            self.stats.gave_up += 1
            return
        if log:
            self._failures.note(f"{item.id} ({item.kind}, attempt {attempts}): {error}")
        await self._settled(item, await self._outbox.reschedule(
            item.id, self.owner, due, attempts, error[:500]))
        self.stats.retried += 1

    async def _give_up(self, item: OutboxItem, reason: str) -> None:
        # The one log line of an item that leaves the outbox undelivered: its record.
        logger.warning("webhook %s (%s) not delivered after %d attempt(s), %s", item.id,
                       item.kind, item.attempts + 1, reason)
        await self._settled(item, await self._outbox.give_up(item.id, self.owner, reason))

    async def _settled(self, item: OutboxItem, held: bool) -> None:
        if not held:
            self.stats.lost_leases += 1
            logger.info("the lease of %s (%s) ran out and another node took it; it is "
                        "delivered again there (a duplicate receivers drop by id)",
                        item.id, item.kind)

    def _log_storage_error(self, what: str, exc: Exception) -> None:
        # Throttled either way: a bug in claim would otherwise log a traceback every poll.
        unexpected = None if isinstance(exc, StorageUnavailable) else exc
        self._storage_failures.note(f"{what}: {type(exc).__name__}: {exc}", unexpected)
