"""One contract suite for every adapter of the storage ports (application/ports.py).

Each test runs on the in-memory adapters and on the MongoDB adapters (SecantusDB here), so
that swapping storage by configuration is proven rather than hoped for. The expected
chat states come from the domain's own functions (``with_message``, ``read_by``,
``without_message``): each adapter must apply exactly those.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import pytest_asyncio
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.memory import (
    InMemoryChatRepository,
    InMemoryLastSeenRepository,
    InMemoryMessageRepository,
    InMemoryPresenceRegistry,
)
from chat_server.adapters.memory.directory import (
    InMemoryProductRepository,
    InMemoryProfileRepository,
)
from chat_server.adapters.memory.unread import InMemoryUnreadCounters
from chat_server.adapters.mongo import (
    MongoChatRepository,
    MongoLastSeenRepository,
    MongoMessageRepository,
    ensure_indexes,
)
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.application.ports import (
    ChatCursor,
    ChatRepository,
    LastSeenRepository,
    MessageRepository,
)
from chat_server.application.use_cases import Caller, ChatRef, SendMessage, SendMessageHandler
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.domain.errors import ChatNotFound, DuplicateClientMessageId, StorageUnavailable
from chat_server.domain.model import (
    Chat,
    ChatKey,
    Message,
    ProductSnapshot,
    UserRef,
    UserType,
)

CUSTOMER, VENDOR = UserType.CUSTOMER, UserType.VENDOR
T0 = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
MALFORMED_IDS = ["", "nope", "0" * 23, "0" * 25, "A" * 24, "zz" * 12, "6b060a73b452245f69095cdg"]
IDS = ObjectIdGenerator()
_users = itertools.count(1)


def at(ms: int) -> datetime:
    """A time T0 + ms: UTC, millisecond precision, like the domain's Clock."""
    return T0 + timedelta(milliseconds=ms)


class FixedClock:
    def now(self) -> datetime:
        return at(500)


def new_user(user_type: UserType) -> UserRef:
    return UserRef(user_type, next(_users))


@attrs.frozen
class Storage:
    chats: ChatRepository
    messages: MessageRepository
    last_seen: LastSeenRepository


@pytest_asyncio.fixture
async def mongo_storage(
    mongo_client: AsyncIOMotorClient[Any], mongo_database_name: str
) -> AsyncIterator[Storage]:
    db = mongo_client[mongo_database_name]
    await ensure_indexes(db)
    yield Storage(MongoChatRepository(db), MongoMessageRepository(db),
                  MongoLastSeenRepository(db))
    await mongo_client.drop_database(mongo_database_name)


@pytest.fixture(params=["memory", "mongo"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """The adapters of one storage backend; Mongo ones on a database of their own."""
    if request.param == "memory":
        return Storage(InMemoryChatRepository(), InMemoryMessageRepository(),
                       InMemoryLastSeenRepository())
    mongo: Storage = request.getfixturevalue("mongo_storage")
    return mongo


# --- helpers -------------------------------------------------------------------------------


FULL_SNAPSHOT = ProductSnapshot(
    product_name="Red bike", product_image_url="https://shop.example/bike.png",
    product_price="199.90", store_name="Bikes & Co", store_logo_url="https://shop.example/l.png",
    customer_name="Ann", customer_profile_pic="https://shop.example/ann.png",
)


async def open_chat(
    storage: Storage, customer: UserRef | None = None, vendor: UserRef | None = None,
    product: str = "p-1", snapshot: ProductSnapshot = FULL_SNAPSHOT, created: int = 0,
) -> Chat:
    customer = customer or new_user(CUSTOMER)
    vendor = vendor or new_user(VENDOR)
    key = ChatKey(product, customer.id, vendor.id)
    new = Chat.open(IDS.new_id(), key, snapshot, at(created))
    chat, was_created = await storage.chats.open(new)
    assert was_created
    return chat


async def record(
    storage: Storage, chat_id: str, sender: UserType, message_id: str, when: datetime,
    snapshot: ProductSnapshot | None = None,
) -> Chat:
    """What a send does to its chat: hand out a seq, then apply the (stored) message."""
    seq = await storage.chats.allocate_seq(chat_id)
    return await storage.chats.apply_message(chat_id, sender, seq, message_id, when, snapshot)


async def send(
    storage: Storage, chat: Chat, sender: UserType, when: int, *, text: str = "hi",
    client_message_id: str | None = None, delivered: bool = False,
) -> Message:
    """A send as SendMessageHandler does it: take the seq, store, apply to the chat."""
    message_id = IDS.new_id()
    seq = await storage.chats.allocate_seq(chat.id)
    author = chat.customer if sender is CUSTOMER else chat.vendor
    message = Message(
        id=message_id, chat_id=chat.id, seq=seq, sender=author,
        recipient=chat.counterpart(author), text=text, images=(), created_at=at(when),
        updated_at=at(when), delivered_at=at(when) if delivered else None,
        awaiting_delivery=not delivered, recipient_online=delivered,
        client_message_id=client_message_id,
    )
    await storage.messages.add(message)
    await storage.chats.apply_message(chat.id, sender, seq, message_id, at(when), None)
    return message


def a_message(chat: Chat, seq: int, sender: UserType = CUSTOMER, **changes: Any) -> Message:
    author = chat.customer if sender is CUSTOMER else chat.vendor
    fields: dict[str, Any] = {
        "id": IDS.new_id(), "chat_id": chat.id, "seq": seq, "sender": author,
        "recipient": chat.counterpart(author), "text": f"message {seq}", "images": (),
        "created_at": at(seq), "updated_at": at(seq),
    }
    fields.update(changes)
    return Message(**fields)


async def stored_chat(storage: Storage, chat_id: str) -> Chat:
    chat = await storage.chats.get(chat_id)
    assert chat is not None
    return chat


# --- chats ---------------------------------------------------------------------------------


async def test_an_opened_chat_reads_back_equal_with_utc_millisecond_times(storage: Storage):
    chat = await open_chat(storage, created=123)

    loaded = await storage.chats.get(chat.id)
    assert loaded == chat
    assert loaded is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.created_at.microsecond == 890_000 + 123_000 - 1_000_000
    assert await storage.chats.find(chat.key) == chat


async def test_opening_an_existing_key_returns_the_stored_chat(storage: Storage):
    chat = await open_chat(storage)
    again = Chat.open(IDS.new_id(), chat.key, ProductSnapshot(product_name="other"), at(99))

    stored, created = await storage.chats.open(again)

    assert (stored, created) == (chat, False)
    assert await storage.chats.get(again.id) is None


async def test_concurrent_opens_of_one_key_create_exactly_one_chat(storage: Storage):
    key = ChatKey("p-race", new_user(CUSTOMER).id, new_user(VENDOR).id)
    candidates = [Chat.open(IDS.new_id(), key, ProductSnapshot(), at(i)) for i in range(10)]

    results = await asyncio.gather(*(storage.chats.open(c) for c in candidates))

    assert sum(created for _, created in results) == 1
    winner = next(chat for chat, created in results if created)
    assert all(chat == winner for chat, _ in results)
    assert await storage.chats.find(key) == winner


async def test_unknown_and_malformed_chat_ids_name_no_chat(storage: Storage):
    chat = await open_chat(storage)

    assert await storage.chats.get(IDS.new_id()) is None
    assert await storage.chats.get(chat.id.upper()) is None
    for bad in MALFORMED_IDS:
        assert await storage.chats.get(bad) is None
    assert await storage.chats.find(ChatKey("p-1", chat.customer_id, chat.vendor_id + 1)) is None


async def test_allocate_and_apply_mirror_the_domain_and_merge_the_snapshot(storage: Storage):
    chat = await open_chat(storage, snapshot=ProductSnapshot(product_name="Old", store_name="S"))
    first, second = IDS.new_id(), IDS.new_id()
    update = ProductSnapshot(product_name="$New", product_price=12.5)

    seq = await storage.chats.allocate_seq(chat.id)
    allocated = chat.with_seq_allocated()
    assert seq == 1 and await storage.chats.get(chat.id) == allocated
    after_first = await storage.chats.apply_message(chat.id, CUSTOMER, 1, first, at(10), update)
    after_second = await record(storage, chat.id, VENDOR, second, at(20))

    expected_first = allocated.with_message(CUSTOMER, 1, first, at(10), update)
    assert after_first == expected_first
    assert after_first.snapshot == ProductSnapshot(
        product_name="$New", product_price=12.5, store_name="S")
    assert after_second == expected_first.with_seq_allocated().with_message(
        VENDOR, 2, second, at(20), None)
    assert (after_second.last_seq, after_second.customer_sent_seq,
            after_second.vendor_sent_seq) == (2, 1, 2)
    assert await storage.chats.get(chat.id) == after_second


async def test_applying_a_seq_twice_or_out_of_order_counts_it_once(storage: Storage):
    chat = await open_chat(storage)
    seqs = [await storage.chats.allocate_seq(chat.id) for _ in range(3)]
    ids = [IDS.new_id() for _ in seqs]

    await storage.chats.apply_message(chat.id, CUSTOMER, 3, ids[2], at(3), None)
    await storage.chats.apply_message(chat.id, CUSTOMER, 1, ids[0], at(1), None)
    again = await storage.chats.apply_message(chat.id, CUSTOMER, 3, ids[2], at(3), None)
    assert again.pending_seqs == (2,) and again.vendor_unread == 2
    assert again.last_message_id == ids[2] and again.last_message_seq == 3
    final = await storage.chats.apply_message(chat.id, CUSTOMER, 2, ids[1], at(2), None)
    assert seqs == [1, 2, 3]
    assert (final.vendor_unread, final.customer_sent_seq, final.pending_seqs) == (3, 3, ())
    assert final.last_message_id == ids[2] and final.last_message_at == at(3)


async def test_concurrent_sends_get_unique_seqs_one_to_fifty(storage: Storage):
    chat = await open_chat(storage)

    results = await asyncio.gather(*(
        record(storage, chat.id, CUSTOMER, IDS.new_id(), at(i)) for i in range(50)
    ))

    assert max(c.last_seq for c in results) == 50
    final = await stored_chat(storage, chat.id)
    assert (final.last_seq, final.customer_sent_seq, final.vendor_unread) == (50, 50, 50)
    assert final.pending_seqs == () and final.last_message_seq == 50


async def test_updates_of_an_unknown_chat_raise_chat_not_found(storage: Storage):
    chat = await open_chat(storage)
    message = a_message(chat, 1)
    for chat_id in [IDS.new_id(), *MALFORMED_IDS]:
        with pytest.raises(ChatNotFound):
            await storage.chats.allocate_seq(chat_id)
        with pytest.raises(ChatNotFound):
            await storage.chats.apply_message(chat_id, CUSTOMER, 1, IDS.new_id(), at(1), None)
        with pytest.raises(ChatNotFound):
            await storage.chats.mark_read(chat_id, VENDOR)
        with pytest.raises(ChatNotFound):
            await storage.chats.forget_message(chat_id, message, None)


async def test_mark_read_returns_the_chat_before_and_after_read_by(storage: Storage):
    chat = await open_chat(storage)
    for when, sender in enumerate([CUSTOMER, CUSTOMER, VENDOR, CUSTOMER]):
        await record(storage, chat.id, sender, IDS.new_id(), at(when))
    before_expected = await stored_chat(storage, chat.id)

    before, after = await storage.chats.mark_read(chat.id, VENDOR)

    assert before == before_expected
    assert after == before.read_by(VENDOR)
    assert (after.vendor_read_seq, after.vendor_unread, after.customer_unread) == (4, 0, 1)
    assert await storage.chats.get(chat.id) == after

    again_before, again_after = await storage.chats.mark_read(chat.id, VENDOR)
    assert again_before == again_after == after

    _, customer_after = await storage.chats.mark_read(chat.id, CUSTOMER)
    assert (customer_after.customer_read_seq, customer_after.customer_unread) == (3, 0)


async def test_forget_message_applies_without_message(storage: Storage):
    chat = await open_chat(storage)
    sent = [await send(storage, chat, sender, when)
            for when, sender in enumerate([CUSTOMER, CUSTOMER, CUSTOMER, VENDOR])]
    await storage.chats.mark_read(chat.id, VENDOR)  # vendor has read seq 1-3
    fourth = await send(storage, chat, CUSTOMER, 10)  # unread by the vendor, the last one

    cases = [
        (fourth, sent[3]),  # unread and last: unread -1, the last becomes its predecessor
        (sent[0], None),    # already read, not last: nothing changes
        (sent[3], None),    # unread by the customer, and now the last
        (sent[3], None),    # a repeat: no unread count goes below zero
    ]
    for message, replacement in cases:
        expected = (await stored_chat(storage, chat.id)).without_message(message, replacement)
        await storage.chats.forget_message(chat.id, message, replacement)
        assert await storage.chats.get(chat.id) == expected

    final = await stored_chat(storage, chat.id)
    assert (final.vendor_unread, final.customer_unread, final.last_message_id) == (0, 0, None)


async def test_forgetting_a_message_not_applied_yet_only_drops_its_seq(storage: Storage):
    chat = await open_chat(storage)
    await send(storage, chat, CUSTOMER, 1)
    seq = await storage.chats.allocate_seq(chat.id)
    pending = a_message(chat, seq)
    before = await stored_chat(storage, chat.id)

    await storage.chats.forget_message(chat.id, pending, None)

    after = await stored_chat(storage, chat.id)
    assert after == before.without_message(pending, None)
    assert after.pending_seqs == () and after.vendor_unread == 1
    applied = await storage.chats.apply_message(chat.id, CUSTOMER, seq, pending.id, at(9), None)
    assert applied == after  # a late apply of a forgotten seq changes nothing


async def test_page_for_lists_most_recent_first_ties_by_id_and_pages_by_cursor(storage: Storage):
    customer = new_user(CUSTOMER)
    chats = []
    for n, when in enumerate([50, 10, 30, 30, 30, 70, 10]):
        chat = await open_chat(storage, customer=customer, product=f"p-{n}")
        chats.append(await record(storage, chat.id, CUSTOMER, IDS.new_id(), at(when)))
    others = await open_chat(storage, vendor=chats[0].vendor)  # a chat of someone else
    expected = sorted(chats, key=lambda c: (c.last_message_at, c.id), reverse=True)

    first = await storage.chats.page_for(customer, 100, None)
    assert first == expected

    paged: list[Chat] = []
    cursor = None
    while True:
        page = await storage.chats.page_for(customer, 2, cursor)
        assert len(page) <= 2
        if not page:
            break
        paged += page
        cursor = ChatCursor(page[-1].last_message_at, page[-1].id)
    assert paged == expected

    vendor_view = await storage.chats.page_for(chats[0].vendor, 10, None)
    assert {c.id for c in vendor_view} == {chats[0].id, others.id}
    assert await storage.chats.page_for(new_user(CUSTOMER), 10, None) == []
    assert await storage.chats.page_for(customer, 0, None) == []


async def test_a_vendors_presence_is_seen_by_its_customers_and_a_customers_only_once_written(
    storage: Storage,
):
    chat = await open_chat(storage)
    stranger = new_user(VENDOR)

    assert await storage.chats.sees_presence_of(chat.customer, chat.vendor)
    # The vendor opened nothing and the customer wrote nothing: the customer stays hidden.
    assert not await storage.chats.sees_presence_of(chat.vendor, chat.customer)
    await send(storage, chat, VENDOR, 1)  # an unsolicited message earns nothing
    assert not await storage.chats.sees_presence_of(chat.vendor, chat.customer)
    await send(storage, chat, CUSTOMER, 2)
    assert await storage.chats.sees_presence_of(chat.vendor, chat.customer)
    assert not await storage.chats.sees_presence_of(chat.customer, stranger)
    assert not await storage.chats.sees_presence_of(chat.customer,
                                                    UserRef(CUSTOMER, chat.vendor_id))
    assert not await storage.chats.sees_presence_of(chat.vendor, UserRef(VENDOR, chat.customer_id))


async def test_the_presence_audience_is_distinct_at_most_limit_and_written_to(storage: Storage):
    customer = new_user(CUSTOMER)
    vendors = [new_user(VENDOR) for _ in range(4)]
    for n, vendor in enumerate([vendors[0], vendors[0], vendors[1], vendors[0], vendors[2]]):
        chat = await open_chat(storage, customer=customer, vendor=vendor, product=f"p-{n}",
                               created=n)
        await send(storage, chat, CUSTOMER, n)
    silent = await open_chat(storage, customer=customer, vendor=vendors[3], product="p-silent")
    await send(storage, silent, VENDOR, 9)  # the customer never wrote to vendor 3
    await open_chat(storage, vendor=vendors[1])  # another customer of vendor 1

    everyone = await storage.chats.presence_audience(customer, 10)
    assert sorted(everyone, key=lambda u: u.id) == vendors[:3]
    two = await storage.chats.presence_audience(customer, 2)
    assert len(two) == len(set(two)) == 2
    assert set(two) <= set(vendors[:3])
    customers = await storage.chats.presence_audience(vendors[1], 10)
    assert customer in customers and len(customers) == 2  # a vendor is seen by all of them
    assert all(u.type is CUSTOMER for u in customers)
    assert await storage.chats.presence_audience(vendors[3], 10) == [customer]
    assert await storage.chats.presence_audience(new_user(VENDOR), 10) == []


async def test_a_stored_message_reads_back_equal(storage: Storage):
    chat = await open_chat(storage)
    message = a_message(
        chat, 1, VENDOR, images=("https://cdn.example/a.png", "https://cdn.example/b.png"),
        text=None, read_at=at(5), delivered_at=at(2), recipient_online=True,
        client_message_id="c-1", opened_chat=True,
    )

    await storage.messages.add(message)

    loaded = await storage.messages.get(message.id)
    assert loaded == message
    assert loaded is not None and loaded.read_at is not None
    assert loaded.read_at.utcoffset() == timedelta(0)


async def test_a_taken_client_message_id_raises_and_stores_nothing(storage: Storage):
    chat = await open_chat(storage)
    first = await send(storage, chat, CUSTOMER, 1, client_message_id="same")
    repeat = a_message(chat, 2, client_message_id="same")

    with pytest.raises(DuplicateClientMessageId):
        await storage.messages.add(repeat)

    assert await storage.messages.get(repeat.id) is None
    assert await storage.messages.history(chat.id, 100, 10) == [first]
    assert await storage.messages.by_client_id(str(chat.customer), "same") == first
    # Another sender (the vendor has the same numeric id space) may use the same id.
    other = a_message(chat, 3, VENDOR, client_message_id="same")
    await storage.messages.add(other)
    assert await storage.messages.by_client_id(str(chat.vendor), "same") == other
    # Messages without a client id never conflict with each other.
    await storage.messages.add(a_message(chat, 4))
    await storage.messages.add(a_message(chat, 5))


async def test_by_client_id_finds_only_that_senders_message(storage: Storage):
    chat = await open_chat(storage)
    message = await send(storage, chat, CUSTOMER, 1, client_message_id="abc")

    assert await storage.messages.by_client_id(str(chat.customer), "abc") == message
    assert await storage.messages.by_client_id(str(chat.customer), "abd") is None
    assert await storage.messages.by_client_id(str(chat.vendor), "abc") is None


async def test_unknown_and_malformed_message_ids_name_no_message(storage: Storage):
    chat = await open_chat(storage)
    message = await send(storage, chat, CUSTOMER, 1)

    assert await storage.messages.get(IDS.new_id()) is None
    assert await storage.messages.get(message.id.upper()) is None
    for bad in MALFORMED_IDS:
        assert await storage.messages.get(bad) is None
        assert await storage.messages.erase(bad, at(9)) is None
        assert await storage.messages.history(bad, 100, 10) == []
        assert await storage.messages.mark_read(bad, VENDOR, 10, at(9), 10) == []
    await storage.messages.mark_delivered(chat.vendor, [*MALFORMED_IDS, IDS.new_id()], at(9))
    assert await storage.messages.by_ids([*MALFORMED_IDS, IDS.new_id()]) == []


async def test_by_ids_returns_the_stored_ones_deleted_included(storage: Storage):
    chat = await open_chat(storage)
    kept, deleted = await send(storage, chat, CUSTOMER, 1), await send(storage, chat, VENDOR, 2)
    await storage.messages.erase(deleted.id, at(3))

    found = await storage.messages.by_ids([deleted.id, "nope", IDS.new_id(), kept.id])

    assert sorted(found, key=lambda m: m.seq) == [kept, deleted.erased(at(3))]
    assert await storage.messages.by_ids([]) == []


async def test_history_is_newest_first_skips_deleted_and_pages_by_seq(storage: Storage):
    chat = await open_chat(storage)
    sent = [await send(storage, chat, [CUSTOMER, VENDOR][n % 2], n) for n in range(8)]
    await storage.messages.erase(sent[6].id, at(20))
    await storage.messages.erase(sent[3].id, at(20))
    live = [m for m in sent if m.seq not in (4, 7)][::-1]  # seqs 8 6 5 3 2 1

    end = (await stored_chat(storage, chat.id)).history_end
    assert await storage.messages.history(chat.id, end, 100) == live
    assert await storage.messages.history(chat.id, end, 2) == live[:2]
    assert await storage.messages.history(chat.id, 6, 3) == live[2:5]  # seq < 6
    assert await storage.messages.history(chat.id, 1, 10) == []
    assert await storage.messages.history(chat.id, end, 0) == []
    assert await storage.messages.history(IDS.new_id(), end, 10) == []


async def test_mark_read_marks_the_recipients_messages_up_to_seq_and_lists_the_oldest(
    storage: Storage,
):
    chat = await open_chat(storage)
    senders = [CUSTOMER, CUSTOMER, VENDOR, CUSTOMER, CUSTOMER, VENDOR, CUSTOMER, CUSTOMER]
    sent = [await send(storage, chat, s, n) for n, s in enumerate(senders)]  # seq = n + 1
    to_vendor = [m for m in sent if m.recipient.type is VENDOR]  # seqs 1 2 4 5 7 8
    await storage.messages.erase(sent[0].id, at(30))  # deleted: never marked nor listed

    ids = await storage.messages.mark_read(chat.id, VENDOR, 5, at(40), 2)

    assert ids == [sent[1].id, sent[3].id]  # seqs 2 and 4: the oldest two it marked
    by_seq = {m.seq: m for m in await storage.messages.by_ids([m.id for m in sent])}
    assert [s for s, m in sorted(by_seq.items()) if m.read_at == at(40)] == [2, 4, 5]
    assert by_seq[1].read_at is None and by_seq[1].deleted
    assert by_seq[3].read_at is None and by_seq[6].read_at is None  # the customer's
    assert by_seq[7].read_at is None  # above up_to_seq

    assert await storage.messages.mark_read(chat.id, VENDOR, 5, at(41), 10) == []
    assert await storage.messages.mark_read(chat.id, VENDOR, 8, at(42), 10) == [
        to_vendor[4].id, to_vendor[5].id]
    assert await storage.messages.mark_read(chat.id, CUSTOMER, 8, at(43), 0) == []
    customer_side = await storage.messages.by_ids([sent[2].id, sent[5].id])
    assert {m.read_at for m in customer_side} == {at(43)}


async def test_erase_returns_the_message_as_it_was_once_then_none(storage: Storage):
    chat = await open_chat(storage)
    message = await send(storage, chat, CUSTOMER, 1, text="secret")

    assert await storage.messages.erase(message.id, at(9)) == message
    assert await storage.messages.erase(message.id, at(10)) is None

    erased = await storage.messages.get(message.id)
    assert erased == message.erased(at(9))
    assert erased is not None and (erased.text, erased.images, erased.deleted) == (None, (), True)


async def test_of_two_concurrent_erases_exactly_one_wins(storage: Storage):
    chat = await open_chat(storage)
    message = await send(storage, chat, CUSTOMER, 1)

    results = await asyncio.gather(*(storage.messages.erase(message.id, at(9)) for _ in range(5)))

    assert [r for r in results if r is not None] == [message]


async def test_undelivered_lists_live_undelivered_messages_oldest_first(storage: Storage):
    chat = await open_chat(storage)
    other_chat = await open_chat(storage, vendor=chat.vendor)
    vendor = chat.vendor
    pending = [await send(storage, chat, CUSTOMER, 1), await send(storage, other_chat, CUSTOMER, 2)]
    await send(storage, chat, CUSTOMER, 3, delivered=True)
    deleted = await send(storage, chat, CUSTOMER, 4)
    await storage.messages.erase(deleted.id, at(5))
    pending.append(await send(storage, chat, CUSTOMER, 6))
    pending.append(await send(storage, other_chat, CUSTOMER, 7))
    await send(storage, chat, VENDOR, 8)  # addressed to the customer

    assert await storage.messages.undelivered(vendor, 100) == pending
    assert await storage.messages.undelivered(vendor, 3) == pending[:3]
    assert await storage.messages.undelivered(new_user(VENDOR), 10) == []

    await storage.messages.mark_delivered(vendor, [pending[0].id, pending[2].id, "nope"], at(50))

    assert await storage.messages.undelivered(vendor, 100) == [pending[1], pending[3]]
    delivered = await storage.messages.get(pending[0].id)
    assert delivered is not None and delivered.delivered_at == at(50)
    await storage.messages.mark_delivered(vendor, [pending[0].id], at(60))  # already delivered
    again = await storage.messages.get(pending[0].id)
    assert again is not None and again.delivered_at == at(50)
    assert len(await storage.messages.undelivered(chat.customer, 10)) == 1
    # Another recipient's confirmation does not deliver them.
    await storage.messages.mark_delivered(chat.customer, [pending[1].id], at(70))
    assert await storage.messages.undelivered(vendor, 100) == [pending[1], pending[3]]


async def test_a_system_message_is_unread_and_undelivered_for_both_until_each_takes_it(
    storage: Storage,
):
    chat = await open_chat(storage)
    seq = await storage.chats.allocate_seq(chat.id)
    system = Message(
        id=IDS.new_id(), chat_id=chat.id, seq=seq, sender=None, recipient=None,
        text="Your order has shipped", images=(), created_at=at(1), updated_at=at(1),
        system_audience=chat.participants, client_message_id="order-1-shipped",
    )
    await storage.messages.add(system)
    applied = await storage.chats.apply_message(chat.id, None, seq, system.id, at(1), None)
    assert (applied.customer_unread, applied.vendor_unread, applied.system_sent_seq) == (1, 1, 1)
    assert await storage.messages.get(system.id) == system
    assert await storage.messages.by_client_id(system.dedup_owner, "order-1-shipped") == system
    assert await storage.messages.by_client_id(str(chat.customer), "order-1-shipped") is None

    _, read = await storage.chats.mark_read(chat.id, VENDOR)
    assert (read.vendor_read_seq, read.vendor_unread, read.customer_unread) == (1, 0, 1)
    assert await storage.messages.mark_read(chat.id, VENDOR, 1, at(2), 10) == [system.id]
    assert await storage.messages.mark_read(chat.id, CUSTOMER, 1, at(3), 10) == [system.id]
    assert await storage.messages.mark_read(chat.id, CUSTOMER, 1, at(4), 10) == []
    stored = await storage.messages.get(system.id)
    assert stored is not None and stored.read_at == at(2)  # its first reading

    assert await storage.messages.undelivered(chat.vendor, 10) == [stored]
    await storage.messages.mark_delivered(chat.vendor, [system.id], at(5))
    assert await storage.messages.undelivered(chat.vendor, 10) == []
    [still] = await storage.messages.undelivered(chat.customer, 10)
    assert still.id == system.id and still.delivered_at == at(5)
    await storage.messages.mark_delivered(chat.customer, [system.id], at(6))
    done = await storage.messages.get(system.id)
    assert done is not None and not done.awaiting_delivery and done.delivered_at == at(5)


# --- last seen -----------------------------------------------------------------------------


async def test_last_seen_keeps_the_latest_time_per_user(storage: Storage):
    user = new_user(CUSTOMER)
    twin = UserRef(VENDOR, user.id)

    assert await storage.last_seen.get(user) is None
    await storage.last_seen.set(user, at(1))
    await storage.last_seen.set(user, at(2))

    seen = await storage.last_seen.get(user)
    assert seen == at(2) and seen is not None and seen.utcoffset() == timedelta(0)
    assert await storage.last_seen.get(twin) is None


# --- the send's writes on this storage -------------------------------------------------------


class FailingOnce:
    """Messages whose next ``add`` fails as a MongoDB outage would, before or after it
    reached storage."""

    def __init__(self, inner: Any, stored: bool) -> None:
        self._inner = inner
        self._stored = stored
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add(self, message: Message) -> None:
        if self.armed:
            self.armed = False
            if self._stored:
                await self._inner.add(message)  # stored, but the answer was lost
            raise StorageUnavailable("lost the connection")
        await self._inner.add(message)


@pytest.mark.parametrize("stored", [False, True], ids=["insert lost", "answer lost"])
async def test_a_send_whose_insert_fails_leaves_the_chat_right_and_a_retry_finishes_it(
    storage: Storage, stored: bool,
):
    chat = await open_chat(storage)
    messages = FailingOnce(storage.messages, stored)
    handler = SendMessageHandler(
        chats=storage.chats, messages=messages, presence=InMemoryPresenceRegistry(),
        clock=FixedClock(), ids=IDS, counters=InMemoryUnreadCounters(),
        display=TrustedDisplay(profiles=InMemoryProfileRepository(),
                               products=InMemoryProductRepository()))
    command = SendMessage(Caller(chat.customer), ChatRef(chat.id), text="hello",
                          client_message_id="retry-me")
    with pytest.raises(StorageUnavailable):
        await handler(command)
    after_failure = await stored_chat(storage, chat.id)
    assert (after_failure.vendor_unread, after_failure.last_message_id) == (0, None)

    retried = (await handler(command)).result

    final = await stored_chat(storage, chat.id)
    assert (final.vendor_unread, final.customer_sent_seq) == (1, retried.message.seq)
    assert final.last_message_id == retried.message.id
    # A lost insert leaves its seq unused (a gap, forgotten after the window).
    assert final.pending_seqs == (() if stored else (1,))
    assert await storage.messages.history(chat.id, final.history_end, 10) == [retried.message]
    assert (await handler(command)).result.message == retried.message  # a replay now
    assert (await stored_chat(storage, chat.id)).vendor_unread == 1
