"""The webhook dispatcher's rules on the in-memory outbox, with a sender that answers what a
test tells it to (the real HTTP path is tests/integration/test_webhook_delivery.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from core_fakes import FakeClock, SequentialIds

from chat_server.adapters.memory import InMemoryOutbox
from chat_server.application.outbox import (
    OutboxItem,
    WebhookTransportError,
    derived_item_id,
    new_outbox_item,
)
from chat_server.application.webhook_format import sign
from chat_server.application.webhooks import (
    Outcome,
    RetryPolicy,
    WebhookDispatcher,
    classify,
)
from chat_server.domain.errors import StorageUnavailable

SECRET = "webhook-unit-tests-secret-0123456789abcdef"
URL = "https://shop.example/hooks/chat"
Answer = int | Exception


@attrs.define
class Sent:
    url: str
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.body)
        return loaded


class ScriptedSender:
    """Answers each POST with ``answer(body)``: a status, or raises the exception given.
    ``gate``, when set, holds every request until it is opened."""

    def __init__(self, answer: Callable[[dict[str, object]], Answer] = lambda _: 200) -> None:
        self.answer = answer
        self.sent: list[Sent] = []
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.most_in_flight = 0
        self.arrived = asyncio.Event()

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.sent.append(Sent(url, body, dict(headers)))
        self.arrived.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            result = self.answer(json.loads(body))
        finally:
            self.in_flight -= 1
        if isinstance(result, Exception):
            raise result
        return result


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Until ``condition()`` holds, checked every millisecond."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)


@attrs.define
class Rig:
    outbox: InMemoryOutbox
    sender: ScriptedSender
    clock: FakeClock
    ids: SequentialIds
    dispatcher: WebhookDispatcher

    def item(self, kind: str = "message.created", data: Mapping[str, object] | None = None,
             **kwargs: object) -> OutboxItem:
        made = new_outbox_item(self.ids, self.clock, kind, data or {"chatId": "c1"})
        return attrs.evolve(made, **kwargs) if kwargs else made

    async def add(self, *items: OutboxItem) -> None:
        await self.outbox.add(items)

    async def run_when_due(self, seconds: float) -> int:
        """Advance the clock by ``seconds`` and dispatch what is due."""
        self.clock.advance(seconds)
        return await self.dispatcher.dispatch_once()


def rig(answer: Callable[[dict[str, object]], Answer] = lambda _: 200, **options: object
        ) -> Rig:
    outbox, sender, clock, ids = InMemoryOutbox(), ScriptedSender(answer), FakeClock(), SequentialIds()
    dispatcher = WebhookDispatcher(outbox, sender, clock, ids, url=URL, secret=SECRET,
                                   owner="node-1", **options)  # type: ignore[arg-type]
    return Rig(outbox, sender, clock, ids, dispatcher)


async def test_a_delivery_is_the_documented_body_signed_with_the_documented_headers():
    r = rig()
    pending = r.item("message.created", {"chatId": "c1", "recipientOnline": False})
    await r.add(pending)
    assert await r.dispatcher.dispatch_once() == 1
    [sent] = r.sender.sent
    assert sent.url == URL
    assert sent.json == {"id": pending.id, "type": "message.created",
                         "createdAt": "2026-01-02T03:04:05.006Z",
                         "data": {"chatId": "c1", "recipientOnline": False}}
    assert pending.id.startswith("evt_") and len(pending.id) == 28
    unix = int(r.clock.now().timestamp())
    expected_mac = hmac.new(SECRET.encode(), f"{unix}.".encode() + sent.body,
                            hashlib.sha256).hexdigest()
    assert sent.headers == {
        "Content-Type": "application/json", "X-Chat-Event": "message.created",
        "X-Chat-Delivery": pending.id, "X-Chat-Signature": f"t={unix},v1={expected_mac}",
    }
    assert sign(SECRET, unix, sent.body) == sent.headers["X-Chat-Signature"]
    assert await r.outbox.pending_count() == 0 and r.dispatcher.stats.delivered == 1


@pytest.mark.parametrize(("statuses", "outcome"), [
    ((200, 201, 202, 204, 299), Outcome.DELIVERED),
    ((408, 429, 500, 502, 503, 504, 599), Outcome.RETRY),
    ((301, 302, 304, 307, 400, 401, 403, 404, 409, 410, 413, 422, 100, 600), Outcome.DROPPED),
])
def test_statuses_are_delivered_retried_or_dropped_as_documented(
    statuses: Sequence[int], outcome: Outcome
):
    assert {classify(status) for status in statuses} == {outcome}


def test_backoff_doubles_from_one_second_and_stays_at_most_ten_minutes_apart():
    policy = RetryPolicy()
    assert [policy.delay_s(n) for n in range(1, 13)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert policy.delay_s(10_000) == 600
    made = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.next_due(made, made + timedelta(hours=23, minutes=59), 150) is not None
    assert policy.next_due(made, made + timedelta(hours=24), 150) is None


async def test_a_retried_item_comes_back_after_one_then_two_then_four_seconds():
    answers = iter([503, 429, WebhookTransportError("no answer within 5 s"), 200])
    r = rig(lambda _: next(answers))
    await r.add(r.item())
    assert await r.dispatcher.dispatch_once() == 1
    for delay in (1.0, 2.0, 4.0):
        assert await r.run_when_due(delay - 0.001) == 0
        assert await r.run_when_due(0.001) == 1
    assert len(r.sender.sent) == 4 and await r.outbox.pending_count() == 0
    assert (r.dispatcher.stats.retried, r.dispatcher.stats.delivered) == (3, 1)
    bodies = {s.body for s in r.sender.sent}
    assert len(bodies) == 1  # the same bytes each time; only the signature's t changes


async def test_a_4xx_is_dropped_and_logged_once(caplog: pytest.LogCaptureFixture):
    r = rig(lambda _: 410)
    pending = r.item("message.read")
    await r.add(pending)
    with caplog.at_level(logging.WARNING, "chat_server.webhooks"):
        assert await r.dispatcher.dispatch_once() == 1
        assert await r.run_when_due(3600) == 0
    assert len(r.sender.sent) == 1 and await r.outbox.pending_count() == 0
    [line] = [rec.getMessage() for rec in caplog.records if pending.id in rec.getMessage()]
    assert "message.read" in line and "HTTP 410" in line
    assert r.dispatcher.stats.dropped == 1


async def test_retries_end_24_hours_after_the_item_was_made(caplog: pytest.LogCaptureFixture):
    r, policy = rig(lambda _: 500), RetryPolicy()
    pending = r.item()
    await r.add(pending)
    attempts = 0
    with caplog.at_level(logging.WARNING, "chat_server.webhooks"):
        while await r.dispatcher.dispatch_once() == 1:
            attempts += 1
            r.clock.advance(policy.delay_s(attempts))
    assert await r.outbox.pending_count() == 0 and r.dispatcher.stats.gave_up == 1
    # Tries at 0, 1, 3, 7 ... 1023 s, then every 600 s: the 154th is the first one at or
    # after 24 hours, and the last.
    assert attempts == 154
    given_up = [rec.getMessage() for rec in caplog.records if "gave up" in rec.getMessage()]
    assert len(given_up) == 1 and pending.id in given_up[0] and "154 attempt" in given_up[0]


async def test_many_failing_deliveries_make_one_warning_per_minute_not_one_each(
    caplog: pytest.LogCaptureFixture,
):
    r = rig(lambda _: WebhookTransportError("ClientConnectorError: connection refused"),
            concurrency=50)
    await r.add(*(r.item() for _ in range(50)))
    with caplog.at_level(logging.WARNING, "chat_server.webhooks"):
        assert await r.dispatcher.dispatch_once() == 50
        assert await r.run_when_due(61) == 50
    lines = [rec.getMessage() for rec in caplog.records if "are retried" in rec.getMessage()]
    assert len(lines) == 2 and "connection refused" in lines[1]
    assert "50 time(s)" in lines[1]  # the 49 held back in the first minute, and this one


async def test_an_old_item_is_still_tried_once_before_it_is_given_up():
    r = rig(lambda _: 200)
    await r.add(r.item(created_at=r.clock.now() - timedelta(days=3)))
    assert await r.dispatcher.dispatch_once() == 1
    assert r.dispatcher.stats.delivered == 1


async def test_one_bad_item_never_blocks_the_others():
    def answer(body: dict[str, object]) -> Answer:
        data = body["data"]
        assert isinstance(data, dict)
        return RuntimeError("sender bug") if data.get("bad") else 200

    r = rig(answer)
    buggy, not_json, fine = r.item(data={"bad": True}), r.item(data={"x": float("nan")}), r.item()
    await r.add(buggy, not_json, fine)
    assert await r.dispatcher.dispatch_once() == 3
    assert [s.json["id"] for s in r.sender.sent] == [buggy.id, fine.id]
    stats = r.dispatcher.stats
    assert (stats.delivered, stats.retried, stats.gave_up) == (1, 1, 1)
    assert await r.outbox.pending_count() == 1  # the buggy one, retried in 1 s


async def test_internal_jobs_are_evaluated_when_due_and_their_webhooks_then_delivered():
    evaluated: list[OutboxItem] = []

    async def unread_check(job: OutboxItem) -> list[OutboxItem]:
        evaluated.append(job)
        return [attrs.evolve(job, id=derived_item_id(job.id), kind="message.unread",
                             data={"unreadCount": 1}, key=None)]

    r = rig(handlers={"unread.check": unread_check})
    job = attrs.evolve(r.item("unread.check", {"chatId": "c1"}),
                       due_at=r.clock.now() + timedelta(seconds=60), key="unread|c1|vendor:7")
    await r.add(job)
    assert await r.run_when_due(59) == 0
    assert await r.run_when_due(1) == 1
    assert evaluated == [job] and r.sender.sent == []  # a job is never POSTed
    assert await r.dispatcher.dispatch_once() == 1
    [sent] = r.sender.sent
    assert sent.json["type"] == "message.unread" and sent.json["id"] == derived_item_id(job.id)
    assert await r.outbox.pending_count() == 0 and r.dispatcher.stats.evaluated == 1


async def test_a_failing_job_is_retried_with_backoff():
    calls = 0

    async def flaky(job: OutboxItem) -> list[OutboxItem]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StorageUnavailable("MongoDB does not answer")
        return []

    r = rig(handlers={"unread.check": flaky})
    await r.add(r.item("unread.check"))
    assert await r.dispatcher.dispatch_once() == 1
    assert await r.run_when_due(0.999) == 0
    assert await r.run_when_due(0.001) == 1
    assert calls == 2 and await r.outbox.pending_count() == 0


class FlakyOutbox(InMemoryOutbox):
    """Claims fail ``failures`` times first, as a MongoDB outage would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def claim(self, owner: str, now: datetime, limit: int, lease_s: float
                    ) -> list[OutboxItem]:
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailable("MongoDB does not answer")
        return await super().claim(owner, now, limit, lease_s)


async def test_the_loop_survives_an_outbox_outage_and_delivers_afterwards():
    outbox, sender, clock, ids = FlakyOutbox(3), ScriptedSender(), FakeClock(), SequentialIds()
    dispatcher = WebhookDispatcher(outbox, sender, clock, ids, url=URL, secret=SECRET,
                                   poll_interval_s=0.01)
    await outbox.add([new_outbox_item(ids, clock, "chat.created", {"chat": {}})])
    async with dispatcher.running():
        await asyncio.wait_for(sender.arrived.wait(), 5)
    assert outbox.failures == 0 and dispatcher.stats.errors == 3


async def test_an_add_on_this_node_is_sent_at_once_not_at_the_next_poll():
    r = rig(poll_interval_s=600)
    async with r.dispatcher.running():
        for _ in range(3):  # the loop claims nothing and waits for its 10-minute poll
            await asyncio.sleep(0)
        await r.dispatcher.add([r.item()])
        await asyncio.wait_for(r.sender.arrived.wait(), 5)
    assert len(r.sender.sent) == 1


async def test_deliveries_run_concurrently_but_never_beyond_the_bound():
    r = rig(concurrency=3, poll_interval_s=0.01)
    r.sender.gate = asyncio.Event()
    await r.add(*(r.item() for _ in range(20)))
    async with r.dispatcher.running():
        await until(lambda: r.sender.in_flight == 3)
        await r.dispatcher.add([r.item()])  # a wake-up while every slot is taken
        r.sender.gate.set()
        await until(lambda: r.dispatcher.stats.delivered == 21)
    assert len(r.sender.sent) == 21 and r.sender.most_in_flight == 3


async def test_a_receiver_that_refuses_every_connection_is_probed_not_hammered(
    caplog: pytest.LogCaptureFixture,
):
    down = WebhookTransportError("ClientConnectorError: connection refused")
    r = rig(lambda _: down, concurrency=8, poll_interval_s=0.005)
    await r.add(*(r.item() for _ in range(50)))
    with caplog.at_level(logging.WARNING, "chat_server.webhooks"):
        async with r.dispatcher.running():
            await until(lambda: r.dispatcher.circuit.is_open)
            tried = len(r.sender.sent)
            assert tried == 8  # the first claim, in flight together
            for _ in range(20):  # polls and adds find the circuit open: nothing is sent
                await r.dispatcher.add([r.item()])
                await asyncio.sleep(0.005)
            assert len(r.sender.sent) == tried
            r.clock.advance(1.0)  # the first pause: one probe, which fails
            await until(lambda: len(r.sender.sent) == tried + 1)
            r.clock.advance(1.0)  # the pause doubled: not yet
            await asyncio.sleep(0.05)
            assert len(r.sender.sent) == tried + 1
            r.sender.answer = lambda _: 200
            r.clock.advance(1.0)  # the receiver is back: the probe closes the circuit
            await until(lambda: r.dispatcher.stats.delivered >= 2)
            r.clock.advance(5.0)  # the retried items are due again
            await until(lambda: r.dispatcher.stats.delivered == 70)
    stats = r.dispatcher.stats
    assert (stats.circuit_opened, r.dispatcher.circuit.is_open, stats.gave_up) == (1, False, 0)
    assert await r.outbox.pending_count() == 0
    said = " ".join(rec.getMessage() for rec in caplog.records)
    assert "pausing deliveries" in said and "answers again" in said


async def test_a_dropping_4xx_is_an_answer_and_keeps_the_circuit_closed():
    r = rig(lambda _: 404, concurrency=10, poll_interval_s=0.005)
    await r.add(*(r.item() for _ in range(30)))
    async with r.dispatcher.running():
        await until(lambda: r.dispatcher.stats.dropped == 30)
    assert r.dispatcher.stats.circuit_opened == 0


async def test_a_node_that_dies_mid_delivery_leaves_the_item_to_the_others():
    r = rig(lease_s=30)
    r.sender.gate = asyncio.Event()  # the request never finishes
    pending = r.item()
    await r.add(pending)
    task = asyncio.create_task(r.dispatcher.run_forever())
    await asyncio.wait_for(r.sender.arrived.wait(), 5)
    task.cancel()  # the node dies
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await r.outbox.pending_count() == 1
    assert await r.outbox.claim("node-2", r.clock.now(), 10, 30) == []
    r.clock.advance(30)
    assert await r.outbox.claim("node-2", r.clock.now(), 10, 30) == [pending]


async def test_stop_lets_in_flight_deliveries_finish():
    r = rig()
    r.sender.gate = asyncio.Event()
    await r.add(r.item())
    task = asyncio.create_task(r.dispatcher.run_forever())
    await asyncio.wait_for(r.sender.arrived.wait(), 5)
    stopping = asyncio.create_task(r.dispatcher.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    r.sender.gate.set()
    await asyncio.wait_for(stopping, 5)
    await task
    assert r.dispatcher.stats.delivered == 1 and await r.outbox.pending_count() == 0


async def test_a_dispatcher_stopped_before_its_loop_started_stays_stopped():
    r = rig()
    task = asyncio.create_task(r.dispatcher.run_forever())
    await r.dispatcher.stop()
    await asyncio.wait_for(task, 5)


async def test_a_full_memory_outbox_drops_the_oldest_and_says_so_once_per_period(
    caplog: pytest.LogCaptureFixture,
):
    now = [0.0]
    outbox = InMemoryOutbox(max_pending=3, monotonic=lambda: now[0])
    clock, ids = FakeClock(), SequentialIds()
    items = [new_outbox_item(ids, clock, "message.created", {"n": n}) for n in range(6)]
    with caplog.at_level(logging.WARNING, "chat_server.webhooks"):
        assert await outbox.add(items[:5]) == 5
        now[0] += 61
        assert await outbox.add(items[5:]) == 1
    assert await outbox.pending_count() == 3
    claimed = await outbox.claim("node-1", clock.now(), 10, 30)
    assert [i.data["n"] for i in claimed] == [3, 4, 5]
    lines = [rec.getMessage() for rec in caplog.records]
    assert len(lines) == 2 and "CHAT_WEBHOOK_MAX_PENDING=3" in lines[0]
