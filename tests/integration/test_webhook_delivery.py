"""Webhook delivery end to end: dispatchers with the aiohttp sender POST to a real HTTP
receiver (uvicorn in this process), on an in-memory or a MongoDB outbox (SecantusDB).

Timings are the production policy scaled down (webhook_support.FAST_RETRY: 50 ms doubling
to 400 ms; a 0.5 s request timeout; 2 s leases)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time

import pytest
from webhook_receiver import WebhookReceiver
from webhook_support import (
    FAST_RETRY,
    SECRET,
    Nodes,
    Storage,
    absent_receiver,
    mongo_storage,
    new_item,
    nodes,
    receiver,
    storage,
    until,
)

from chat_server.application.webhook_format import iso

__all__ = ["absent_receiver", "mongo_storage", "nodes", "receiver", "storage"]


async def test_deliveries_arrive_signed_with_the_documented_body_and_headers(
    storage: Storage, receiver: WebhookReceiver, nodes: Nodes,
):
    node = await nodes.start(await storage.outbox(), receiver.url)
    items = [new_item("chat.created", chat={"id": "c" * 24}),
             new_item("message.deleted", chatId="c" * 24, messageId="m" * 24),
             new_item("user.reported", reason="Spam, «quoted» \u2028")]
    await node.dispatcher.add(items)
    await receiver.wait_for_count(3)
    assert sorted(receiver.ids()) == sorted(i.id for i in items)
    by_id = {i.id: i for i in items}
    for delivery in receiver.deliveries:
        item = by_id[delivery.id]
        assert (delivery.method, delivery.path) == ("POST", "/hooks/chat")
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["x-chat-event"] == item.kind
        assert json.loads(delivery.body) == {"id": item.id, "type": item.kind,
                                             "createdAt": iso(item.created_at),
                                             "data": dict(item.data)}
        stamp, mac = delivery.headers["x-chat-signature"].split(",")
        unix = int(stamp.removeprefix("t="))
        assert abs(unix - time.time()) < 5
        expected = hmac.new(SECRET.encode(), f"{unix}.".encode() + delivery.body,
                            hashlib.sha256).hexdigest()
        assert mac == f"v1={expected}"
    await until(lambda: node.dispatcher.stats.delivered == 3)
    assert await node.outbox.pending_count() == 0


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_retryable_answers_are_retried_with_doubling_backoff_until_delivered(
    status: int, receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.fail_next(3, status)
    node = await nodes.start(await Storage("memory").outbox(), receiver.url)
    item = new_item()
    await node.dispatcher.add([item])
    await receiver.wait_for_count(4)
    assert receiver.ids() == [item.id] * 4
    arrivals = [d.arrived for d in receiver.deliveries]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    for attempt, gap in enumerate(gaps, start=1):
        # Each wait is at least the policy's (due times are kept in milliseconds).
        assert gap >= FAST_RETRY.delay_s(attempt) - 0.002, gaps
    await until(lambda: node.dispatcher.stats.delivered == 1)
    assert node.dispatcher.stats.retried == 3 and await node.outbox.pending_count() == 0


async def test_retries_of_a_mongo_outbox_survive_in_the_stored_item(
    mongo_storage: Storage, receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.fail_next(2, 502)
    node = await nodes.start(await mongo_storage.outbox(), receiver.url)
    await node.dispatcher.add([new_item()])
    await receiver.wait_for_count(3)
    await until(lambda: node.dispatcher.stats.delivered == 1)
    assert node.dispatcher.stats.retried == 2


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_other_4xx_answers_are_dropped_after_one_attempt(
    status: int, receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.fail_next(1, status)
    node = await nodes.start(await Storage("memory").outbox(), receiver.url)
    dropped, fine = new_item(), new_item()
    await node.dispatcher.add([dropped])
    await until(lambda: node.dispatcher.stats.dropped == 1)
    assert await node.outbox.pending_count() == 0  # nothing left that could be retried
    await node.dispatcher.add([fine])
    await receiver.wait_for_count(2)
    assert receiver.ids() == [dropped.id, fine.id]


async def test_a_redirect_is_not_followed_but_dropped(receiver: WebhookReceiver, nodes: Nodes):
    receiver.redirect_next(1, "/elsewhere")
    node = await nodes.start(await Storage("memory").outbox(), receiver.url)
    await node.dispatcher.add([new_item()])
    await until(lambda: node.dispatcher.stats.dropped == 1)
    assert [d.path for d in receiver.deliveries] == ["/hooks/chat"]


async def test_a_receiver_that_answers_too_late_gets_the_item_again(
    receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.slow_next(1, 5.0)  # ten times the sender's 0.5 s timeout
    node = await nodes.start(await Storage("memory").outbox(), receiver.url, timeout_s=0.5)
    item = new_item()
    started = time.monotonic()
    await node.dispatcher.add([item])
    await receiver.wait_for_count(2)
    # The second request came after the timeout and the backoff, long before the slow
    # answer would have: it is a duplicate of the same id, which receivers drop.
    assert receiver.ids() == [item.id, item.id]
    assert 0.5 <= receiver.deliveries[1].arrived - started < 4.0
    await until(lambda: node.dispatcher.stats.delivered == 1)
    assert node.dispatcher.stats.retried == 1


async def test_an_endless_answer_does_not_hold_the_delivery(
    receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.endless_next(1)
    node = await nodes.start(await Storage("memory").outbox(), receiver.url, timeout_s=8.0)
    await node.dispatcher.add([new_item()])
    # Delivered on the first attempt: the sender read a few KB of the status-200 answer
    # and hung up, rather than reading the 10 s stream until its 8 s timeout.
    await until(lambda: node.dispatcher.stats.delivered == 1, timeout=5.0)
    assert len(receiver.deliveries) == 1 and node.dispatcher.stats.retried == 0


async def test_an_absent_receiver_is_retried_and_gets_everything_once_it_comes_up(
    storage: Storage, absent_receiver: WebhookReceiver, nodes: Nodes,
):
    node = await nodes.start(await storage.outbox(), absent_receiver.url)
    items = [new_item() for _ in range(5)]
    await node.dispatcher.add(items)
    # Refused five times in a row: the node pauses and probes (ReceiverCircuit).
    await until(lambda: node.dispatcher.circuit.is_open)
    assert node.dispatcher.stats.delivered == 0 and await node.outbox.pending_count() == 5
    await absent_receiver.start()
    await absent_receiver.wait_for(lambda r: set(r.ids()) == {i.id for i in items})
    await until(lambda: node.dispatcher.stats.delivered == 5)
    assert await node.outbox.pending_count() == 0


async def test_a_node_that_crashed_leaves_its_pending_deliveries_to_its_restart(
    mongo_storage: Storage, absent_receiver: WebhookReceiver, nodes: Nodes,
):
    first = await nodes.start(await mongo_storage.outbox(), absent_receiver.url, lease_s=1.0)
    items = [new_item() for _ in range(3)]
    await first.dispatcher.add(items)
    await until(lambda: first.dispatcher.stats.retried >= 3)
    await nodes.kill(first)  # the process dies: its loop, its requests, its client
    await first.sender.stop()
    mongo_storage.close_client(0)
    await absent_receiver.start()
    restarted = await nodes.start(await mongo_storage.outbox(), absent_receiver.url)
    await absent_receiver.wait_for(lambda r: {i.id for i in items} <= set(r.ids()))
    await until(lambda: restarted.dispatcher.stats.delivered == 3)
    assert await restarted.outbox.pending_count() == 0


async def test_two_nodes_sharing_one_mongo_outbox_deliver_each_item_exactly_once(
    mongo_storage: Storage, receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.slow_next(200, 0.02)  # a receiver that takes 20 ms, so that both nodes work
    one = await nodes.start(await mongo_storage.outbox(), receiver.url, owner="node-1")
    two = await nodes.start(await mongo_storage.outbox(), receiver.url, owner="node-2")
    items = [new_item() for _ in range(60)]
    await one.dispatcher.add(items[:30])
    await two.dispatcher.add(items[30:])
    await receiver.wait_for(lambda r: set(r.ids()) == {i.id for i in items})
    await until(lambda: one.dispatcher.stats.delivered + two.dispatcher.stats.delivered == 60)
    assert await one.outbox.pending_count() == 0
    assert sorted(receiver.ids()) == sorted(i.id for i in items)  # not one duplicate
    assert one.dispatcher.stats.delivered > 0 and two.dispatcher.stats.delivered > 0
    assert one.dispatcher.stats.lost_leases == two.dispatcher.stats.lost_leases == 0


async def test_an_item_whose_owner_dies_mid_delivery_is_delivered_by_the_other_node(
    mongo_storage: Storage, receiver: WebhookReceiver, nodes: Nodes,
):
    receiver.slow_next(1, 30.0)  # the first request hangs: its node dies meanwhile
    doomed = await nodes.start(await mongo_storage.outbox(), receiver.url, timeout_s=20.0,
                               lease_s=1.0, owner="node-1")
    item = new_item()
    added = time.monotonic()  # the lease starts after this, at the claim
    await doomed.dispatcher.add([item])
    await receiver.wait_for_count(1)
    await nodes.kill(doomed)
    survivor = await nodes.start(await mongo_storage.outbox(), receiver.url, lease_s=1.0,
                                 owner="node-2")
    await receiver.wait_for_count(2)
    # The same id again (a duplicate, as at-least-once allows), once the lease ran out.
    assert receiver.ids() == [item.id, item.id]
    assert receiver.deliveries[1].arrived - added >= 1.0 - 0.002  # due times are in ms
    await until(lambda: survivor.dispatcher.stats.delivered == 1)
    assert await survivor.outbox.pending_count() == 0
