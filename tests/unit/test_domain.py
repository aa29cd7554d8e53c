"""The domain's own rules: users, chat keys, content, and a chat's counters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat_server.domain.errors import InvalidInput, NotAChatParticipant
from chat_server.domain.model import (
    PENDING_SEQS_WINDOW,
    Chat,
    ChatKey,
    Message,
    MessageContent,
    ProductSnapshot,
    UrlPolicy,
    UserRef,
    UserType,
    validate_client_message_id,
    validate_product_id,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMER, VENDOR = UserRef(UserType.CUSTOMER, 1), UserRef(UserType.VENDOR, 1)


@pytest.mark.parametrize(("raw", "parsed"), [
    ("customer", UserType.CUSTOMER), ("VENDOR", UserType.VENDOR), ("Vendor", UserType.VENDOR),
    ("admin", None), (1, None), (None, None), ("", None),
])
def test_user_types_are_read_in_any_case(raw: object, parsed: UserType | None):
    assert UserType.parse(raw) is parsed


def test_customer_2_and_vendor_2_are_different_users():
    assert UserRef(UserType.CUSTOMER, 2) != UserRef(UserType.VENDOR, 2)


def test_a_chat_key_puts_the_customer_and_the_vendor_in_their_places():
    assert ChatKey.between(CUSTOMER, 7, "p") == ChatKey("p", customer_id=1, vendor_id=7)
    assert ChatKey.between(UserRef(UserType.VENDOR, 7), 1, "p") == ChatKey("p", 1, 7)


def test_content_is_trimmed_and_needs_text_or_images():
    assert MessageContent.create("  hi  ", None) == MessageContent("hi", ())
    assert MessageContent.create(None, ["https://x/1.png"]).images == ("https://x/1.png",)
    assert MessageContent.create("x" * 5000, None).text == "x" * 5000
    for text, images in (("", None), ("  ", []), (None, None), ("x" * 5001, None),
                         (None, ["javascript:alert(1)"]), (None, ["https://x/" + "a" * 2048]),
                         (None, ["https://x/y"] * 11)):
        with pytest.raises(InvalidInput):
            MessageContent.create(text, images)


def test_identifier_limits():
    assert validate_product_id("p" * 128) == [] and validate_product_id("") != []
    assert validate_product_id("p" * 129) != []
    assert validate_client_message_id(None) == [] and validate_client_message_id("c" * 64) == []
    assert validate_client_message_id("") != [] and validate_client_message_id("c" * 65) != []


def test_a_snapshot_merge_keeps_what_an_update_leaves_out():
    stored = ProductSnapshot(product_name="Lamp", product_price=10)
    assert stored.merged(ProductSnapshot(store_name="S")) == ProductSnapshot(
        product_name="Lamp", product_price=10, store_name="S")
    assert stored.merged(None) is stored
    assert [e.field for e in ProductSnapshot(store_logo_url="ftp://x").validate(UrlPolicy())] == [
        "store_logo_url"]
    assert ProductSnapshot(customer_name="n" * 2049).validate(UrlPolicy()) != []


def test_each_side_writes_only_its_own_display_fields():
    everything = ProductSnapshot(
        product_name="P", product_image_url="https://i/p.png", product_price="1",
        store_name="S", store_logo_url="https://i/s.png", customer_name="C",
        customer_profile_pic="https://i/c.png")
    assert everything.written_by(UserType.CUSTOMER, opening=True) == ProductSnapshot(
        product_name="P", product_image_url="https://i/p.png", product_price="1",
        customer_name="C", customer_profile_pic="https://i/c.png")
    assert everything.written_by(UserType.CUSTOMER, opening=False) == ProductSnapshot(
        customer_name="C", customer_profile_pic="https://i/c.png")
    assert everything.written_by(UserType.VENDOR, opening=False) == ProductSnapshot(
        product_name="P", product_image_url="https://i/p.png", product_price="1",
        store_name="S", store_logo_url="https://i/s.png")
    assert ProductSnapshot(store_name="S").written_by(UserType.CUSTOMER, opening=True) is None


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://cdn.shop.example/a.png", True),
    ("https://shop.example/a.png", True),
    ("https://evil.example/a.png", False),
    ("https://shop.example.evil.example/a.png", False),
    ("http://cdn.shop.example/a.png", False),
    ("https:///a.png", False),
    ("javascript:alert(1)", False),
])
def test_urls_must_be_https_on_the_allowed_hosts(url: str, allowed: bool):
    policy = UrlPolicy(frozenset({"shop.example"}))
    assert policy.allows(url) is allowed
    assert UrlPolicy().allows("https://anything.example/x") is True
    assert UrlPolicy().allows("http://anything.example/x") is False
    loopback = UrlPolicy(allow_http_loopback=True)
    assert loopback.allows("http://127.0.0.1:8000/static/x.svg") is True
    assert loopback.allows("http://example.com/x") is False


def chat() -> Chat:
    return Chat.open("c" * 24, ChatKey("p", 1, 1), ProductSnapshot(), AT)


def sent(c: Chat, side: UserType, message_id: str) -> Chat:
    """The chat after a send: a seq handed out, then the stored message applied."""
    c = c.with_seq_allocated()
    return c.with_message(side, c.last_seq, message_id, AT)


def test_a_chat_counts_seq_unread_and_read_watermarks_per_side():
    c = sent(sent(chat(), UserType.CUSTOMER, "m1"), UserType.CUSTOMER, "m2")
    c = sent(c, UserType.VENDOR, "m3")
    assert (c.last_seq, c.customer_sent_seq, c.vendor_sent_seq) == (3, 2, 3)
    assert c.unread_for(VENDOR) == 2 and c.unread_for(CUSTOMER) == 1
    read = c.read_by(UserType.VENDOR)
    assert read.vendor_read_seq == 2 and read.unread_for(VENDOR) == 0
    assert read.unread_for(CUSTOMER) == 1 and read.last_message_id == "m3"


def test_applying_a_message_is_idempotent_and_independent_of_order():
    c = chat().with_seq_allocated().with_seq_allocated()  # seqs 1 and 2 handed out
    later_first = c.with_message(UserType.CUSTOMER, 2, "m2", AT).with_message(
        UserType.CUSTOMER, 1, "m1", AT)
    in_order = c.with_message(UserType.CUSTOMER, 1, "m1", AT).with_message(
        UserType.CUSTOMER, 2, "m2", AT)
    assert later_first == in_order
    assert later_first.vendor_unread == 2 and later_first.last_message_id == "m2"
    assert later_first.with_message(UserType.CUSTOMER, 1, "m1", AT) == later_first
    assert later_first.pending_seqs == ()


def test_a_message_applied_after_a_read_that_covers_it_is_not_unread():
    c = chat().with_seq_allocated().with_seq_allocated()
    c = c.with_message(UserType.CUSTOMER, 2, "m2", AT).read_by(UserType.VENDOR)
    c = c.with_message(UserType.CUSTOMER, 1, "m1", AT)
    assert c.vendor_unread == 0 and c.last_message_id == "m2"


def test_seqs_of_sends_that_never_finished_are_forgotten_after_the_window():
    c = chat()
    for _ in range(PENDING_SEQS_WINDOW + 5):
        c = c.with_seq_allocated()
    assert len(c.pending_seqs) == PENDING_SEQS_WINDOW and min(c.pending_seqs) == 6


def test_forgetting_an_unread_last_message_updates_the_counters():
    c = sent(sent(chat(), UserType.CUSTOMER, "m1"), UserType.CUSTOMER, "m2")
    first = Message("m1", c.id, 1, CUSTOMER, VENDOR, "x", (), AT, AT)
    message = Message("m2", c.id, 2, CUSTOMER, VENDOR, "x", (), AT, AT)
    after = c.without_message(message, replacement=first)
    assert after.vendor_unread == 1 and after.last_message_id == "m1"
    assert after.last_message_seq == 1
    assert c.read_by(UserType.VENDOR).without_message(message, first).vendor_unread == 0


def test_forgetting_a_message_not_applied_yet_only_drops_its_seq():
    c = sent(chat(), UserType.CUSTOMER, "m1").with_seq_allocated()
    message = Message("m2", c.id, 2, CUSTOMER, VENDOR, "x", (), AT, AT)
    after = c.without_message(message, replacement=None)
    assert after.pending_seqs == () and after.vendor_unread == 1
    assert after.with_message(UserType.CUSTOMER, 2, "m2", AT) == after


def test_only_participants_take_part():
    c = chat()
    c.ensure_participant(CUSTOMER)
    assert c.counterpart(CUSTOMER) == VENDOR
    with pytest.raises(NotAChatParticipant):
        c.ensure_participant(UserRef(UserType.CUSTOMER, 2))


def test_an_erased_message_keeps_its_seq_but_says_nothing():
    m = Message("m", "c", 4, CUSTOMER, VENDOR, "secret", ("https://x/y",), AT, AT)
    erased = m.erased(AT)
    assert erased.deleted and erased.text is None and erased.images == () and erased.seq == 4
