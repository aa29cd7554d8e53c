"""Every use case on the in-memory adapters: the business rules of the chat."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from core_fakes import CUSTOMER, VENDOR, Core, caller

from chat_server.adapters.memory import InMemoryRateLimiter
from chat_server.application.events import (
    ChatOpened,
    MessageDeleted,
    MessageStored,
    PresenceChanged,
    ReadReceipt,
    SendReplayed,
    TypingChanged,
)
from chat_server.application.ports import Channel, RateKind, RateLimit
from chat_server.application.use_cases import (
    OFFLINE_MESSAGES_LIMIT,
    ChatRef,
    CheckOnlinePresence,
    DeleteMessage,
    GetMessages,
    GetUserChats,
    JoinChat,
    MarkAsRead,
    SendMessage,
    SendMessageHandler,
    SentMessage,
    SignalTyping,
)
from chat_server.domain.errors import (
    ChatNotFound,
    InvalidInput,
    MessageNotFound,
    NoSharedChat,
    NotAChatParticipant,
    NotTheSender,
    RateLimitExceeded,
    StorageUnavailable,
    UserNotOnline,
)
from chat_server.domain.model import ChatKey, ProductSnapshot, UserRef, UserType

STRANGER = UserRef(UserType.CUSTOMER, 99)


async def send(core: Core, sender: UserRef = CUSTOMER, text: str = "hello", **kwargs: object
               ) -> SentMessage:
    recipient = VENDOR if sender == CUSTOMER else CUSTOMER
    ref = kwargs.pop("ref", None) or ChatRef(product_id="sku", recipient_id=recipient.id)
    core.clock.advance()
    return await core.send(SendMessage(caller(sender), ref, text=text, **kwargs))  # type: ignore[arg-type]


# --- sending -------------------------------------------------------------------------------


async def test_the_first_message_opens_the_chat_and_later_ones_take_the_next_seq(core: Core):
    first = await send(core, snapshot=ProductSnapshot(product_name="Lamp"))
    assert first.opened_chat and first.message.seq == 1
    assert first.chat.snapshot.product_name == "Lamp"
    assert isinstance(core.notifier.published[-1], ChatOpened)
    second = await send(core, VENDOR, "hi back")
    assert not second.opened_chat and second.message.seq == 2
    assert second.chat.id == first.chat.id and second.chat.customer_unread == 1
    assert isinstance(core.notifier.published[-1], MessageStored)


async def test_two_first_messages_at_once_open_one_chat_with_both(core: Core):
    steps: list[str] = []
    real_open = core.chats.open

    async def open_recording(chat: Any) -> Any:
        steps.append("open")
        return await real_open(chat)

    core.chats.open = open_recording  # type: ignore[method-assign]
    a, b = await asyncio.gather(send(core, CUSTOMER, "a"), send(core, VENDOR, "b"))
    # Both looked the chat up before either opened it: the sends really interleaved.
    assert steps == ["open", "open"]
    assert a.chat.id == b.chat.id
    assert sorted([a.message.seq, b.message.seq]) == [1, 2]
    assert [a.opened_chat, b.opened_chat].count(True) == 1
    chat = await core.chats.get(a.chat.id)
    assert chat is not None and chat.customer_unread == 1 and chat.vendor_unread == 1
    assert chat.pending_seqs == () and chat.last_message_seq == 2


async def test_concurrent_sends_count_each_message_once_whatever_order_they_finish(core: Core):
    chat = (await send(core)).chat
    sends = [send(core, text=f"m{n}", ref=ChatRef(chat.id)) for n in range(10)]
    sent = await asyncio.gather(*sends)
    stored = await core.chats.get(chat.id)
    assert stored is not None
    assert sorted(s.message.seq for s in sent) == list(range(2, 12))
    assert stored.vendor_unread == 11 and stored.customer_sent_seq == 11
    assert stored.last_message_seq == 11 and stored.pending_seqs == ()
    last = next(s.message for s in sent if s.message.seq == 11)
    assert stored.last_message_id == last.id


async def test_a_failed_insert_leaves_only_a_seq_gap_and_a_retry_stores_it_once(core: Core):
    chat = (await send(core)).chat
    real_add = core.messages.add

    async def failing_add(message: Any) -> None:
        raise StorageUnavailable("down")

    core.messages.add = failing_add  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        await send(core, text="lost", ref=ChatRef(chat.id), client_message_id="c-1")
    after_failure = await core.chats.get(chat.id)
    assert after_failure is not None
    assert after_failure.vendor_unread == 1 and after_failure.last_message_id == chat.last_message_id
    assert after_failure.last_seq == 2  # the gap
    core.messages.add = real_add  # type: ignore[method-assign]
    retried = await send(core, text="lost", ref=ChatRef(chat.id), client_message_id="c-1")
    assert retried.message.seq == 3
    stored = await core.chats.get(chat.id)
    assert stored is not None and stored.vendor_unread == 2
    assert stored.last_message_id == retried.message.id


async def test_a_retry_finishes_a_send_interrupted_after_its_message_was_stored(core: Core):
    chat = (await send(core)).chat
    real_apply = core.chats.apply_message

    async def failing_apply(*args: Any) -> Any:
        raise StorageUnavailable("down")

    core.chats.apply_message = failing_apply  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        await send(core, text="half", ref=ChatRef(chat.id), client_message_id="c-2")
    half = await core.chats.get(chat.id)
    assert half is not None and half.vendor_unread == 1 and half.pending_seqs == (2,)
    core.chats.apply_message = real_apply  # type: ignore[method-assign]
    core.notifier.clear()
    retried = await send(core, text="half", ref=ChatRef(chat.id), client_message_id="c-2")
    assert retried.message.seq == 2 and retried.chat.vendor_unread == 2
    assert retried.chat.last_message_id == retried.message.id
    again = await send(core, text="half", ref=ChatRef(chat.id), client_message_id="c-2")
    assert again.chat.vendor_unread == 2  # applied once
    # Users are told nothing again; durable subscribers hear of the replay.
    assert [type(e) for e in core.notifier.published] == [SendReplayed, SendReplayed]


async def test_a_repeated_client_message_id_stores_and_announces_nothing(core: Core):
    first = await send(core, client_message_id="m-1")
    core.notifier.clear()
    again = await send(core, client_message_id="m-1", text="different text")
    assert again.message == first.message and again.opened_chat
    [replayed] = core.notifier.published
    assert isinstance(replayed, SendReplayed) and replayed.audience == ()
    assert len(await core.messages.history(first.chat.id, 100, 10)) == 1


async def test_a_message_counts_as_delivered_when_the_recipient_holds_a_chat_connection(
    core: Core,
):
    offline = await send(core)
    assert not offline.message.recipient_online and offline.message.delivered_at is None
    await core.presence.add(VENDOR, "v-sid", Channel.CHAT)
    online = await send(core)
    assert online.message.recipient_online and online.message.delivered_at == core.clock.at


async def test_chat_naming_rules_for_sending(core: Core):
    chat = (await send(core)).chat
    with pytest.raises(NotAChatParticipant):
        await core.send(SendMessage(caller(STRANGER), ChatRef(chat.id), text="x"))
    with pytest.raises(InvalidInput) as mismatch:
        await send(core, ref=ChatRef(chat.id, product_id="other"))
    assert mismatch.value.errors[0].field == "product_id"
    made_up = await send(core, ref=ChatRef("uuid-made-up", "sku", VENDOR.id))
    assert made_up.chat.id == chat.id
    with pytest.raises(ChatNotFound):
        await send(core, ref=ChatRef("uuid-made-up"))


@pytest.mark.parametrize(("text", "images", "field"), [
    ("", None, "text"), ("   ", [], "text"), ("x" * 5001, None, "text"),
    (None, ["ftp://x/y.png"], "images"), (None, ["https://x/y.png"] * 11, "images"),
])
async def test_invalid_content_is_refused_and_nothing_is_stored(
    core: Core, text: str | None, images: list[str] | None, field: str
):
    with pytest.raises(InvalidInput) as refused:
        await core.send(SendMessage(caller(CUSTOMER), ChatRef(product_id="sku", recipient_id=2),
                                    text=text, images=images))
    assert field in [e.field for e in refused.value.errors]
    assert await core.chats.page_for(CUSTOMER, 10, None) == []
    assert core.notifier.published == []


async def test_display_fields_refresh_the_snapshot_but_only_each_sides_own(core: Core):
    chat = (await send(core, snapshot=ProductSnapshot(
        product_name="Lamp", product_price=10, customer_name="Ann", store_name="Fake store",
    ))).chat
    # The first message sets the product; the customer cannot name the vendor's store.
    assert chat.snapshot == ProductSnapshot(product_name="Lamp", product_price=10,
                                            customer_name="Ann")
    later = await send(core, ref=ChatRef(chat.id), snapshot=ProductSnapshot(
        product_price="0.01", customer_name="Anna"))
    assert later.chat.snapshot == ProductSnapshot(product_name="Lamp", product_price=10,
                                                  customer_name="Anna")
    vendor = await send(core, VENDOR, ref=ChatRef(chat.id), snapshot=ProductSnapshot(
        product_price="12.50", store_name="Lights", customer_name="Renamed"))
    assert vendor.chat.snapshot == ProductSnapshot(
        product_name="Lamp", product_price="12.50", customer_name="Anna", store_name="Lights")


async def test_display_urls_of_the_other_side_are_ignored_and_own_ones_must_be_https(core: Core):
    chat = (await send(core, snapshot=ProductSnapshot(store_logo_url="http://tracker/x"))).chat
    assert chat.snapshot.store_logo_url is None
    with pytest.raises(InvalidInput) as refused:
        await send(core, ref=ChatRef(chat.id),
                   snapshot=ProductSnapshot(customer_profile_pic="http://tracker/me.png"))
    assert [e.field for e in refused.value.errors] == ["customer_profile_pic"]
    with pytest.raises(InvalidInput):
        await send(core, ref=ChatRef(chat.id), images=["http://tracker/pixel.gif"])


async def test_opening_chats_takes_from_the_new_chat_bucket(core: Core):
    limiter = InMemoryRateLimiter({RateKind.NEW_CHAT: RateLimit(0.0001, 2)})
    handler = SendMessageHandler(chats=core.chats, messages=core.messages,
                                 presence=core.presence, clock=core.clock, ids=core.ids,
                                 counters=core.counters, display=core.display, limiter=limiter)
    for product in ("a", "b"):
        await handler(SendMessage(caller(CUSTOMER), ChatRef(product_id=product, recipient_id=2),
                                  text="hi"))
    with pytest.raises(RateLimitExceeded):
        await handler(SendMessage(caller(CUSTOMER), ChatRef(product_id="c", recipient_id=2),
                                  text="hi"))
    # Messages in open chats are not limited by it.
    await handler(SendMessage(caller(CUSTOMER), ChatRef(product_id="a", recipient_id=2),
                              text="again"))
    assert await core.chats.find(ChatKey("c", CUSTOMER.id, VENDOR.id)) is None


# --- reading ---------------------------------------------------------------------------------


async def test_joining_marks_read_and_tells_both_participants(core: Core):
    chat = (await send(core)).chat
    for n in range(25):
        await send(core, text=f"m{n}", ref=ChatRef(chat.id))
    core.notifier.clear()
    joined = await core.join(JoinChat(caller(VENDOR), ChatRef(chat.id)))
    assert joined.chat.vendor_unread == 0
    assert [m.seq for m in joined.messages] == list(range(7, 27))  # the latest 20, oldest first
    [receipt] = core.notifier.published
    assert isinstance(receipt, ReadReceipt) and receipt.audience == chat.participants
    assert receipt.read_up_to_seq == 26 and len(receipt.message_ids) == 26
    with pytest.raises(NotAChatParticipant):
        await core.join(JoinChat(caller(STRANGER), ChatRef(chat.id)))
    with pytest.raises(ChatNotFound):
        await core.join(JoinChat(caller(VENDOR), ChatRef("0" * 24)))


async def test_mark_as_read_reports_what_it_marked_and_nothing_when_nothing_was_unread(
    core: Core,
):
    chat = (await send(core)).chat
    await send(core, VENDOR, "mine", ref=ChatRef(chat.id))
    await send(core, ref=ChatRef(chat.id))
    receipt = await core.mark_read(MarkAsRead(caller(VENDOR), ChatRef(chat.id)))
    assert receipt.read_up_to_seq == 3 and len(receipt.message_ids) == 2
    assert receipt.read_at == core.clock.at
    stored = await core.messages.history(chat.id, 100, 10)
    assert [m.read for m in reversed(stored)] == [True, False, True]  # own message unread
    core.notifier.clear()
    nothing = await core.mark_read(MarkAsRead(caller(VENDOR), ChatRef(chat.id)))
    assert nothing.message_ids == [] and nothing.read_at is None
    assert nothing.read_up_to_seq == 3
    assert core.notifier.published == []


# --- deleting, typing -----------------------------------------------------------------------


async def test_only_the_sender_deletes_and_the_content_is_erased(core: Core):
    first = await send(core)
    secret = await send(core, text="secret", ref=ChatRef(first.chat.id))
    ref = ChatRef(first.chat.id)
    with pytest.raises(NotTheSender):
        await core.delete(DeleteMessage(caller(VENDOR), ref, secret.message.id))
    deleted = await core.delete(DeleteMessage(caller(CUSTOMER), ref, secret.message.id))
    assert isinstance(deleted, MessageDeleted) and deleted.audience == first.chat.participants
    stored = await core.messages.get(secret.message.id)
    assert stored is not None and stored.deleted and stored.text is None
    chat = await core.chats.get(first.chat.id)
    assert chat is not None
    assert chat.vendor_unread == 1 and chat.last_message_id == first.message.id
    assert [m.id for m in await core.messages.history(chat.id, 100, 10)] == [first.message.id]
    with pytest.raises(MessageNotFound):
        await core.delete(DeleteMessage(caller(CUSTOMER), ref, secret.message.id))
    other = await send(core, ref=ChatRef(product_id="other", recipient_id=VENDOR.id))
    with pytest.raises(MessageNotFound):
        await core.delete(DeleteMessage(caller(CUSTOMER), ChatRef(other.chat.id),
                                        first.message.id))


async def test_typing_is_throttled_per_user_and_chat_and_stopping_never_is(core: Core):
    chat = (await send(core)).chat
    core.notifier.clear()
    typing = SignalTyping(caller(CUSTOMER), ChatRef(chat.id), typing=True)
    signal = await core.typing(typing)
    assert signal == TypingChanged(chat.id, CUSTOMER, VENDOR, True)
    await core.typing(typing)
    assert len(core.notifier.of(TypingChanged)) == 1
    core.throttle_clock[0] += 2.1
    await core.typing(typing)
    await core.typing(SignalTyping(caller(CUSTOMER), ChatRef(chat.id), typing=False))
    await core.typing(SignalTyping(caller(CUSTOMER), ChatRef(chat.id), typing=False))
    assert [n.typing for n in core.notifier.of(TypingChanged)] == [True, True, False, False]
    with pytest.raises(NotAChatParticipant):
        await core.typing(SignalTyping(caller(STRANGER), ChatRef(chat.id), typing=True))


# --- listing ---------------------------------------------------------------------------------


async def test_user_chats_page_most_recent_first_with_their_latest_message(core: Core):
    for product in ("a", "b", "c"):
        await send(core, ref=ChatRef(product_id=product, recipient_id=VENDOR.id))
    latest = await send(core, text="newest", ref=ChatRef(product_id="a", recipient_id=VENDOR.id))
    first = await core.user_chats(GetUserChats(caller(VENDOR), limit=2))
    assert [i.chat.product_id for i in first.chats] == ["a", "c"]
    assert first.chats[0].messages == [latest.message]
    assert first.chats[0].chat.unread_for(VENDOR) == 2
    assert first.chats[0].chat.unread_for(CUSTOMER) == 0
    assert first.next_cursor is not None
    second = await core.user_chats(GetUserChats(caller(VENDOR), limit=2, after=first.next_cursor))
    assert [i.chat.product_id for i in second.chats] == ["b"] and second.next_cursor is None


async def test_get_messages_pages_back_by_seq(core: Core):
    chat = (await send(core)).chat
    for n in range(4):
        await send(core, VENDOR, f"r{n}", ref=ChatRef(chat.id))
    page = await core.get_messages(GetMessages(caller(CUSTOMER), ChatRef(chat.id), limit=2))
    assert [m.seq for m in page.messages] == [4, 5] and page.has_more
    older = await core.get_messages(GetMessages(caller(CUSTOMER), ChatRef(chat.id),
                                                before_seq=4, limit=10))
    assert [m.seq for m in older.messages] == [1, 2, 3] and not older.has_more


# --- presence --------------------------------------------------------------------------------


async def test_presence_is_announced_once_per_user_across_devices(core: Core):
    await send(core)
    core.notifier.clear()
    await core.connect(CUSTOMER, "phone")
    await core.connect(CUSTOMER, "laptop")
    [online] = core.notifier.of(PresenceChanged)
    assert online == PresenceChanged(CUSTOMER, True, None, [VENDOR])
    await core.disconnect(CUSTOMER, "phone")
    assert len(core.notifier.of(PresenceChanged)) == 1
    core.clock.advance()
    await core.disconnect(CUSTOMER, "laptop")
    offline = core.notifier.of(PresenceChanged)[-1]
    assert offline == PresenceChanged(CUSTOMER, False, core.clock.at, [VENDOR])
    assert await core.last_seen.get(CUSTOMER) == core.clock.at


async def test_a_reload_announces_nothing_and_writes_no_last_seen(core: Core):
    await send(core)
    await core.connect(CUSTOMER, "tab")
    core.notifier.clear()
    went = await core.disconnect(CUSTOMER, "tab", settle=False)
    assert went is not None and core.notifier.published == []
    await core.connect(CUSTOMER, "tab-again")  # back before the offline delay passed
    await core.publisher.publish((await core.tracker.settle(went)).events)
    assert core.notifier.published == []
    assert await core.last_seen.get(CUSTOMER) is None
    await core.disconnect(CUSTOMER, "tab-again")
    [offline] = core.notifier.of(PresenceChanged)
    assert not offline.online and await core.last_seen.get(CUSTOMER) == core.clock.at


async def test_a_customers_presence_reaches_only_vendors_it_wrote_to(core: Core):
    await send(core, VENDOR, "unsolicited")  # the vendor wrote first; the customer did not
    await core.connect(CUSTOMER, "c")
    assert core.notifier.of(PresenceChanged) == []
    with pytest.raises(NoSharedChat):
        await core.check_presence(CheckOnlinePresence(caller(VENDOR), CUSTOMER))
    status = await core.check_presence(CheckOnlinePresence(caller(CUSTOMER), VENDOR))
    assert not status.online  # a vendor is public-facing to its customers
    await send(core, CUSTOMER, "answer")
    assert (await core.check_presence(CheckOnlinePresence(caller(VENDOR), CUSTOMER))).online


async def test_presence_is_only_told_about_counterparts(core: Core):
    await send(core)
    await core.connect(VENDOR, "v")
    status = await core.check_presence(CheckOnlinePresence(caller(CUSTOMER), VENDOR))
    assert status.online and status.last_seen is None
    await core.disconnect(VENDOR, "v")
    status = await core.check_presence(CheckOnlinePresence(caller(CUSTOMER), VENDOR))
    assert not status.online and status.last_seen == core.clock.at
    with pytest.raises(NoSharedChat):
        await core.check_presence(CheckOnlinePresence(caller(STRANGER), VENDOR))


async def test_a_chat_session_needs_presence_within_the_grace_period(core: Core):
    with pytest.raises(UserNotOnline):
        await core.sessions.await_presence(VENDOR)
    waiting = asyncio.ensure_future(core.sessions.await_presence(VENDOR))
    await asyncio.sleep(0.01)
    await core.connect(VENDOR, "presence-sid")
    await waiting


async def test_offline_messages_are_delivered_once_oldest_first(core: Core):
    chat = (await send(core, text="one")).chat
    await send(core, text="two", ref=ChatRef(chat.id))
    session = await core.sessions.open(caller(VENDOR, "chat-sid"))
    assert [m.text for m in session.offline_messages] == ["one", "two"]
    assert all(m.delivered_at == core.clock.at for m in session.offline_messages)
    assert not session.more_offline and len(session.chats.chats) == 1
    await core.sessions.close(caller(VENDOR, "chat-sid"))
    again = await core.sessions.open(caller(VENDOR, "chat-sid-2"))
    assert again.offline_messages == []


async def test_offline_messages_stop_at_the_limit_and_say_there_are_more(core: Core):
    chat = (await send(core)).chat
    for n in range(OFFLINE_MESSAGES_LIMIT):
        await send(core, text=f"m{n}", ref=ChatRef(chat.id))
    session = await core.sessions.open(caller(VENDOR, "sid"))
    assert len(session.offline_messages) == OFFLINE_MESSAGES_LIMIT and session.more_offline
    rest = await core.sessions.open(caller(VENDOR, "sid-2"))
    assert [m.text for m in rest.offline_messages] == [f"m{OFFLINE_MESSAGES_LIMIT - 1}"]
    assert not rest.more_offline
