"""What marketplace chats are expected to do (PROTOCOL.md section 10): event-doc message ids,
editing, blocking, reporting, hiding contact details, the unread total."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from service_support import SECRET, Client, Devices, Server, new_id


async def chat_of(connect: Any) -> tuple[Client, Client, dict[str, Any]]:
    customer, vendor = await connect("customer"), await connect("vendor")
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                              "text": "first"})
    await vendor.next("newChat")
    return customer, vendor, ack["data"]


async def test_messages_carry_the_event_docs_message_id_and_delete_by_it(connect: Any):
    customer, vendor, chat = await chat_of(connect)
    await customer.emit("sendMessage", {"chatId": chat["id"], "text": "oops"})
    received = await vendor.next("receiveMessage")
    message = (await customer.next("receiveMessage"))["data"]
    assert message["messageId"] == message["id"] == received["data"]["messageId"]
    # A client of the event doc deletes by data.messageId.
    ack = await customer.call("deleteMessage", {"chatId": chat["id"],
                                                "messageId": message["messageId"]})
    assert ack["statusCode"] == 200


@pytest.mark.parametrize("event", ["joinChat", "markAsRead", "typing", "getMessages",
                                   "deleteMessage"])
async def test_a_payload_naming_no_chat_is_a_400_with_the_missing_fields(
    connect: Any, event: str,
):
    customer = await connect("customer")
    ack = await customer.call(event, {})
    assert ack["statusCode"] == 400, ack
    assert "chatId" in [e["field"] for e in ack["data"]["errors"]]


async def test_the_sender_edits_and_both_sides_see_it_everywhere(connect: Any):
    customer, vendor, chat = await chat_of(connect)
    phone = await connect("vendor", vendor.user_id)
    message = chat["messages"][0]
    ack = await customer.call("editMessage", {"chatId": chat["id"], "messageId": message["id"],
                                              "text": "  first, edited  "})
    assert ack["statusCode"] == 200 and ack["message"] == "Message has been edited"
    assert ack["data"]["text"] == "first, edited" and ack["data"]["editedAt"]
    for client in (vendor, phone):
        edited = await client.next("messageEdited")
        assert edited == ack
    await customer.nothing("messageEdited")  # it took the ack
    history = await vendor.call("getMessages", {"chatId": chat["id"]})
    assert history["data"]["messages"][0]["text"] == "first, edited"
    refused = await vendor.call("editMessage", {"chatId": chat["id"],
                                                "messageId": message["id"], "text": "mine"})
    assert refused["statusCode"] == 403
    assert refused["message"] == "You can only edit your own messages"
    too_long = await customer.call("editMessage", {"chatId": chat["id"],
                                                   "messageId": message["id"], "text": "x" * 5001})
    assert too_long["statusCode"] == 400


async def test_an_edit_reaches_an_offline_recipient_with_the_new_text(connect: Any):
    customer, vendor, chat = await chat_of(connect)
    await vendor.close()
    await customer.next("userIsOffline")  # the server saw the vendor leave
    sent = await customer.call("sendMessage", {"chatId": chat["id"], "text": "typo"})
    await customer.call("editMessage", {"chatId": chat["id"], "messageId": sent["data"]["id"],
                                        "text": "fixed"})
    back = await connect("vendor", vendor.user_id)
    [offline] = back.received("offlineMessages")
    assert [m["text"] for m in offline["data"]] == ["fixed"]


async def test_a_blocked_user_cannot_write_and_sees_no_presence_until_unblocked(connect: Any):
    customer, vendor, chat = await chat_of(connect)
    await vendor.call("sendMessage", {"chatId": chat["id"], "text": "hi"})
    block = await customer.call("blockUser", {"userId": vendor.user_id, "userType": "vendor"})
    assert block["statusCode"] == 200 and block["message"] == "User has been blocked"
    for client, blocked, blocked_by in ((customer, True, False), (vendor, False, True)):
        updated = await client.next("chatUpdated")
        assert (updated["data"]["blocked"], updated["data"]["blockedBy"]) == (blocked, blocked_by)
    for event, payload in (("sendMessage", {"chatId": chat["id"], "text": "still there?"}),
                           ("typing", {"chatId": chat["id"]}),
                           ("editMessage", {"chatId": chat["id"], "text": "x",
                                            "messageId": chat["messages"][0]["id"]}),
                           ("sendMessage", {"recipientId": customer.user_id,
                                            "productId": "another", "text": "new chat"})):
        refused = await vendor.call(event, payload)
        assert (refused["statusCode"], refused["message"]) == (
            403, "You cannot message this user"), event
    status = await vendor.call("checkOnlinePresence", {"userId": customer.user_id,
                                                       "userType": "customer"})
    assert status["data"]["status"] is False and status["data"]["lastSeen"] is None
    # The blocker still reads, and still writes.
    history = await customer.call("getMessages", {"chatId": chat["id"]})
    assert [m["text"] for m in history["data"]["messages"]] == ["first", "hi"]
    assert (await customer.call("sendMessage", {"chatId": chat["id"], "text": "bye"}))[
        "statusCode"] == 200
    again = await customer.call("blockUser", {"userId": vendor.user_id, "userType": "VENDOR"})
    assert again["statusCode"] == 200  # idempotent
    await customer.call("unblockUser", {"userId": vendor.user_id, "userType": "vendor"})
    ok = await vendor.call("sendMessage", {"chatId": chat["id"], "text": "thanks"})
    assert ok["statusCode"] == 200
    stranger = await customer.call("blockUser", {"userId": new_id(), "userType": "vendor"})
    assert stranger["statusCode"] == 403


async def test_reports_are_acknowledged_and_limited(connect: Any):
    customer, vendor, chat = await chat_of(connect)
    ack = await customer.call("reportUser", {"userId": vendor.user_id, "userType": "vendor",
                                             "chatId": chat["id"], "reason": "asks for money"})
    assert ack["statusCode"] == 200 and ack["message"] == "User has been reported"
    bad = await customer.call("reportUser", {"userId": vendor.user_id, "userType": "vendor",
                                             "reason": " "})
    assert bad["statusCode"] == 400 and bad["data"]["errors"][0]["field"] == "reason"
    stranger = await customer.call("reportUser", {"userId": new_id(), "userType": "vendor",
                                                  "reason": "spam"})
    assert stranger["statusCode"] == 403
    codes = [(await customer.call("reportUser", {"userId": vendor.user_id, "userType": "vendor",
                                                 "reason": f"again {n}"}))["statusCode"]
             for n in range(10)]
    assert codes == [200] * 9 + [429]  # 10 a day


async def test_the_chat_list_carries_the_unread_total_of_all_chats(connect: Any):
    customer = await connect("customer")
    vendors = [await connect("vendor") for _ in range(3)]
    for vendor in vendors:
        for n in range(2):
            await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                                "productId": "p", "text": f"m{n}"})
    page = await vendors[0].call("getUserChats", {"limit": 1})
    assert page["totalUnread"] == 2
    many = await connect("vendor", vendors[1].user_id)
    chats = many.received("userChats")[0]
    assert chats["totalUnread"] == 2


# --- the contact-detail filter, on servers of its own ------------------------------------


@pytest.fixture(scope="module", params=["mask", "block"])
def filtering(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Server]:
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_PRESENCE_GRACE_S": "1",
           "CHAT_CONTACT_FILTER": request.param, "CHAT_CONTACT_ALLOWED_DOMAINS": "shop.example"}
    server = Server(env, tmp_path_factory.mktemp(f"filter-{request.param}") / "log").start()
    server.mode = request.param  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    opened = Devices()
    yield opened
    await opened.close_all()


async def test_contact_details_are_masked_or_refused_in_sends_and_edits(
    filtering: Server, devices: Devices,
):
    customer = await devices.open(filtering.url, "customer")
    vendor = await devices.open(filtering.url, "vendor")
    text = "call me on +44 20 7946 0958 or mail ann@example.com, see shop.example/p/1"
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                              "text": text})
    if filtering.mode == "block":  # type: ignore[attr-defined]
        assert ack["statusCode"] == 400
        assert ack["data"]["errors"] == [{"field": "text",
                                          "message": "contact details are not allowed"}]
        await asyncio.sleep(0)
        assert (await customer.call("getUserChats"))["data"] == []
        return
    message = ack["data"]["messages"][0]
    assert message["masked"] is True
    assert message["text"] == "call me on [hidden] or mail [hidden], see shop.example/p/1"
    clean = await customer.call("sendMessage", {"chatId": ack["data"]["id"],
                                                "text": "is 1,299.99 the price for order 100234567?"})
    assert clean["data"]["masked"] is False
    edited = await customer.call("editMessage", {"chatId": ack["data"]["id"],
                                                 "messageId": clean["data"]["id"],
                                                 "text": "or whatsapp +33 6 12 34 56 78"})
    assert edited["data"]["masked"] is True and "+33" not in edited["data"]["text"]
