"""One contract suite for every adapter of the Outbox port (application/outbox.py).

Each test runs on the in-memory outbox and on the MongoDB outbox (SecantusDB here). "Two
nodes" are two outbox objects on the same storage: for MongoDB two separate motor clients,
so that lease exclusivity is proven across connections, not only inside one client.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import pytest_asyncio
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.memory import InMemoryOutbox
from chat_server.adapters.mongo import MongoOutbox, create_mongo_client, ensure_indexes
from chat_server.application.outbox import Outbox, OutboxItem, derived_item_id
from chat_server.domain.errors import StorageUnavailable

T0 = datetime(2026, 12, 1, 10, 0, 0, 0, tzinfo=UTC)
LEASE_S = 30.0
_ids = itertools.count(1)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def item(due: int = 0, key: str | None = None, kind: str = "message.created",
         data: dict[str, Any] | None = None) -> OutboxItem:
    return OutboxItem(id=f"evt_{next(_ids):024x}", kind=kind, data=data or {"n": 1},
                      created_at=at(0), due_at=at(due), key=key)


@attrs.frozen
class Nodes:
    """Two views of one outbox, as two server nodes have them."""

    one: Outbox
    two: Outbox


@pytest_asyncio.fixture
async def mongo_nodes(mongo_url: str, mongo_database_name: str) -> AsyncIterator[Nodes]:
    clients: list[AsyncIOMotorClient[Any]] = [create_mongo_client(mongo_url) for _ in range(2)]
    await ensure_indexes(clients[0][mongo_database_name])
    yield Nodes(MongoOutbox(clients[0][mongo_database_name]),
                MongoOutbox(clients[1][mongo_database_name]))
    await clients[0].drop_database(mongo_database_name)
    for client in clients:
        client.close()


@pytest.fixture(params=["memory", "mongo"])
def nodes(request: pytest.FixtureRequest) -> Nodes:
    if request.param == "memory":
        shared = InMemoryOutbox()
        return Nodes(shared, shared)
    mongo: Nodes = request.getfixturevalue("mongo_nodes")
    return mongo


async def test_an_item_reads_back_as_it_was_added(nodes: Nodes):
    data = {"chatId": "c" * 24, "text": "Grüße, 你好 \u2028 \"quoted\"", "n": 2**53 - 1,
            "price": 19.9, "none": None, "flags": [True, False], "nested": {"a": [{"b": 1}]}}
    added = attrs.evolve(item(data=data), key="unread|chat|vendor:7")
    assert await nodes.one.add([added]) == 1
    assert await nodes.two.claim("node-2", at(0), 10, LEASE_S) == [added]


async def test_adding_an_id_again_is_a_no_op_so_a_caller_may_add_again_after_a_crash(
    nodes: Nodes,
):
    first, second = item(), item()
    assert await nodes.one.add([first]) == 1
    again = attrs.evolve(first, data={"other": True})
    assert await nodes.two.add([again, second]) == 1
    assert await nodes.one.pending_count() == 2
    claimed = await nodes.one.claim("node-1", at(0), 10, LEASE_S)
    assert sorted(claimed, key=lambda i: i.id) == [first, second]


async def test_at_most_one_pending_item_per_key_claimed_or_not(nodes: Nodes):
    first, rival = item(key="unread|c1|vendor:7"), item(key="unread|c1|vendor:7")
    other = item(key="unread|c1|customer:2")
    assert await nodes.one.add([first, rival, other]) == 2
    [claimed, _] = await nodes.one.claim("node-1", at(0), 10, LEASE_S)
    assert claimed == first
    assert await nodes.two.add([rival]) == 0  # the first one is still pending, leased
    assert await nodes.one.complete(first.id, "node-1")
    assert await nodes.two.add([rival]) == 1  # its key is free once it is done
    assert await nodes.one.pending_count() == 2


async def test_of_concurrent_adds_of_one_key_exactly_one_stores_its_item(nodes: Nodes):
    rivals = [item(key="unread|race|vendor:1") for _ in range(8)]
    results = await asyncio.gather(*(
        (nodes.one if i % 2 else nodes.two).add([rival]) for i, rival in enumerate(rivals)))
    assert sorted(results) == [0] * 7 + [1]
    assert await nodes.one.pending_count() == 1


async def test_items_are_claimed_oldest_due_first_and_never_before_they_are_due(nodes: Nodes):
    late, early, middle, future = item(due=300), item(due=100), item(due=200), item(due=5000)
    await nodes.one.add([late, early, middle, future])
    assert await nodes.two.claim("node-2", at(99), 10, LEASE_S) == []
    assert await nodes.two.claim("node-2", at(300), 2, LEASE_S) == [early, middle]
    assert await nodes.two.claim("node-2", at(300), 10, LEASE_S) == [late]
    assert await nodes.two.claim("node-2", at(4999), 10, LEASE_S) == []
    assert await nodes.one.claim("node-1", at(5000), 10, LEASE_S) == [future]


async def test_a_claimed_item_is_nobody_elses_until_its_lease_runs_out(nodes: Nodes):
    pending = item()
    await nodes.one.add([pending])
    assert await nodes.one.claim("node-1", at(0), 10, 2.0) == [pending]
    assert await nodes.two.claim("node-2", at(1999), 10, 2.0) == []
    # node-1 "died": its lease ran out, node-2 takes the item over.
    assert await nodes.two.claim("node-2", at(2000), 10, 2.0) == [pending]
    assert await nodes.one.claim("node-1", at(2001), 10, 2.0) == []
    # The late node-1 can no longer change it; its new owner can.
    assert not await nodes.one.complete(pending.id, "node-1")
    assert not await nodes.one.reschedule(pending.id, "node-1", at(9000), 1, "HTTP 503")
    assert not await nodes.one.give_up(pending.id, "node-1", "HTTP 400")
    assert await nodes.one.pending_count() == 1
    assert await nodes.two.complete(pending.id, "node-2")
    assert await nodes.one.pending_count() == 0


async def test_an_owner_whose_lease_ran_out_still_settles_it_when_nobody_took_it(nodes: Nodes):
    pending = item()
    await nodes.one.add([pending])
    await nodes.one.claim("node-1", at(0), 10, 1.0)
    assert await nodes.one.complete(pending.id, "node-1")  # late, but still its own
    assert await nodes.two.claim("node-2", at(5000), 10, 1.0) == []


async def test_concurrent_claims_of_two_nodes_lease_every_item_to_exactly_one_owner(
    nodes: Nodes,
):
    items = [item(due=i % 7) for i in range(60)]
    await nodes.one.add(items)
    got: dict[str, list[str]] = {}

    async def worker(outbox: Outbox, owner: str) -> None:
        while claimed := await outbox.claim(owner, at(10), 3, LEASE_S):
            got.setdefault(owner, []).extend(i.id for i in claimed)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(nodes.one if n % 2 else nodes.two, f"node-{n}")
                           for n in range(6)))
    every = [item_id for ids in got.values() for item_id in ids]
    assert sorted(every) == sorted(i.id for i in items)  # each once, none lost
    assert len(got) > 1  # the claims did interleave


async def test_a_rescheduled_item_comes_back_when_due_with_its_attempts(nodes: Nodes):
    pending = item()
    await nodes.one.add([pending])
    await nodes.one.claim("node-1", at(0), 10, LEASE_S)
    assert not await nodes.two.reschedule(pending.id, "node-2", at(1000), 1, "HTTP 503")
    assert await nodes.one.reschedule(pending.id, "node-1", at(1000), 1, "HTTP 503")
    # The lease is released: due at 1000, not at the end of the lease.
    assert await nodes.two.claim("node-2", at(999), 10, LEASE_S) == []
    [again] = await nodes.two.claim("node-2", at(1000), 10, LEASE_S)
    assert again == attrs.evolve(pending, due_at=at(1000), attempts=1)
    assert await nodes.two.reschedule(pending.id, "node-2", at(3000), 2, "timeout")
    [third] = await nodes.one.claim("node-1", at(3000), 10, LEASE_S)
    assert third.attempts == 2


async def test_giving_up_removes_the_item_and_frees_its_key(nodes: Nodes):
    pending = item(key="k|1")
    await nodes.one.add([pending])
    await nodes.one.claim("node-1", at(0), 10, LEASE_S)
    assert not await nodes.two.give_up(pending.id, "node-2", "HTTP 400")
    assert await nodes.one.give_up(pending.id, "node-1", "HTTP 400")
    assert await nodes.one.pending_count() == 0
    assert await nodes.two.claim("node-2", at(10**7), 10, LEASE_S) == []
    assert await nodes.two.add([item(key="k|1")]) == 1


async def test_a_job_evaluated_twice_adds_its_derived_items_once(nodes: Nodes):
    job = item(kind="unread.check")
    made = [attrs.evolve(item(), id=derived_item_id(job.id, n)) for n in range(2)]
    remade = [attrs.evolve(item(), id=derived_item_id(job.id, n)) for n in range(2)]
    assert made[0].id != made[1].id and made[0].id.startswith("evt_")
    assert await nodes.one.add(made) == 2
    assert await nodes.two.add(remade) == 0


async def test_nothing_to_add_or_claim_is_fine(nodes: Nodes):
    assert await nodes.one.add([]) == 0
    assert await nodes.one.claim("node-1", at(0), 10, LEASE_S) == []
    assert not await nodes.one.complete("evt_missing", "node-1")
    assert await nodes.one.pending_count() == 0


async def test_a_claim_never_hands_out_what_changed_since_an_earlier_read(nodes: Nodes):
    # Node one reads more than it claims (adapters may keep candidates); meanwhile node two
    # takes and settles some of them: node one must not hand those out again.
    items = [item(due=i) for i in range(10)]
    await nodes.one.add(items)
    first = await nodes.one.claim("node-1", at(100), 2, LEASE_S)
    taken_by_two = await nodes.two.claim("node-2", at(100), 3, LEASE_S)
    await nodes.two.complete(taken_by_two[0].id, "node-2")
    await nodes.two.reschedule(taken_by_two[1].id, "node-2", at(50_000), 1, "HTTP 503")
    rest = await nodes.one.claim("node-1", at(100), 10, LEASE_S)
    ids = [i.id for i in first + taken_by_two + rest]
    assert sorted(ids) == sorted(i.id for i in items)  # each handed out exactly once


async def test_a_claim_for_an_earlier_now_gets_nothing_that_is_not_due_then(nodes: Nodes):
    await nodes.one.add([item(due=0), item(due=10), item(due=500)])
    assert len(await nodes.one.claim("node-1", at(600), 1, LEASE_S)) == 1
    # A caller with a clock behind: only what is due at its "now".
    assert len(await nodes.one.claim("node-1", at(10), 10, LEASE_S)) == 1
    assert len(await nodes.one.claim("node-1", at(600), 10, LEASE_S)) == 1


async def test_a_mongodb_that_does_not_answer_is_storage_unavailable_for_the_outbox():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once it is closed
    client = create_mongo_client(f"mongodb://127.0.0.1:{port}/?retryWrites=false",
                                 connect_timeout_s=0.2, server_selection_timeout_s=0.2)
    outbox = MongoOutbox(client["chat"])
    try:
        for call in (outbox.add([item()]), outbox.claim("node-1", at(0), 8, LEASE_S),
                     outbox.complete("evt_x", "node-1"),
                     outbox.reschedule("evt_x", "node-1", at(1), 1, "HTTP 503"),
                     outbox.give_up("evt_x", "node-1", "HTTP 400"), outbox.pending_count()):
            with pytest.raises(StorageUnavailable, match="MongoDB does not answer"):
                await call
    finally:
        client.close()
