"""Sending, delivery, offline messages, reading, deleting, typing and paging (PROTOCOL.md 4, 6)."""

from __future__ import annotations

import asyncio
from typing import Any

from service_support import Client, make_token

MESSAGE_FIELDS = {
    "id", "chatId", "seq", "senderId", "recipientId", "senderType", "recipientType", "text",
    "messageImages", "read", "readAt", "recipientOnline", "deliveredAt", "clientMessageId",
    "timestamp", "createdAt", "updatedAt", "messageId", "editedAt", "masked", "attachments",
}
CHAT_FIELDS = {
    "id", "productId", "customerId", "vendorId", "productName", "productImageUrl",
    "productPrice", "storeName", "storeLogoUrl", "customerName", "customerProfilePic",
    "createdAt", "updatedAt", "lastMessageAt", "unreadCount", "messages", "blocked", "blockedBy",
}


async def pair(connect: Any) -> tuple[Client, Client]:
    return await connect("customer"), await connect("vendor")


async def open_chat(customer: Client, vendor: Client, product: str = "sku-1", **extra: Any
                    ) -> dict[str, Any]:
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": product,
                                              "text": "Is it still available?", **extra})
    assert ack["statusCode"] == 200 and ack["message"] == "New chat created", ack
    await vendor.next("newChat")
    return ack["data"]  # type: ignore[no-any-return]


async def test_the_first_message_creates_the_chat_for_both_sides(connect: Any):
    customer, vendor = await pair(connect)
    second_device = await connect("customer", customer.user_id)
    ack = await customer.call("sendMessage", {
        "recipientId": vendor.user_id, "productId": "sku-42", "text": "  Hello  ",
        "productName": "Lamp", "productPrice": 19.5, "productImageUrl": "https://img/x.png",
        "storeName": "Lights", "customerName": "Ann", "clientMessageId": "c-1",
    })
    chat = ack["data"]
    assert set(chat) == CHAT_FIELDS
    assert chat["productId"] == "sku-42" and chat["customerId"] == customer.user_id
    assert chat["vendorId"] == vendor.user_id and chat["productPrice"] == 19.5
    assert chat["productName"] == "Lamp" and chat["unreadCount"] == 0
    [message] = chat["messages"]
    assert set(message) == MESSAGE_FIELDS
    assert message["text"] == "Hello" and message["seq"] == 1
    assert message["senderType"] == "CUSTOMER" and message["recipientType"] == "VENDOR"
    assert message["recipientOnline"] is True and message["deliveredAt"] is not None
    assert message["clientMessageId"] == "c-1" and message["read"] is False
    new_chat = await vendor.next("newChat", namespace="/chat")
    assert new_chat["message"] == "New chat created"
    assert new_chat["data"]["unreadCount"] == 1 and new_chat["data"]["id"] == chat["id"]
    sent = await second_device.next("newSentChat")
    assert sent == ack
    # The requesting socket had its ack: the broadcast skipped it.
    await customer.nothing("newSentChat")


async def test_messages_in_an_existing_chat_reach_every_device_of_both(connect: Any):
    customer, vendor = await pair(connect)
    vendor_phone = await connect("vendor", vendor.user_id)
    chat = await open_chat(customer, vendor)
    await vendor_phone.next("newChat")
    # Without an ack the sender learns the outcome from the broadcast itself.
    await customer.emit("sendMessage", {"chatId": chat["id"], "text": "second"})
    for client in (customer, vendor, vendor_phone):
        got = await client.next("receiveMessage")
        assert got["message"] == "New message received"
        assert got["data"]["seq"] == 2 and got["data"]["text"] == "second"
    await customer.nothing("receiveMessage")
    reply = await vendor.call("sendMessage", {"chatId": chat["id"], "text": "yes",
                                              "messageImages": ["https://img/1.png"]})
    assert reply["data"]["seq"] == 3 and reply["data"]["senderType"] == "VENDOR"
    assert reply["data"]["messageImages"] == ["https://img/1.png"]
    assert (await customer.next("receiveMessage")) == reply
    assert (await vendor_phone.next("receiveMessage")) == reply
    await vendor.nothing("receiveMessage")


async def test_two_first_messages_at_once_make_one_chat_with_both(connect: Any):
    customer, vendor = await pair(connect)
    acks = await asyncio.gather(
        customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                      "text": "from customer"}),
        vendor.call("sendMessage", {"recipientId": customer.user_id, "productId": "p",
                                    "text": "from vendor"}),
    )
    chat_ids = set()
    seqs = []
    for ack in acks:
        assert ack["statusCode"] == 200, ack
        data = ack["data"]
        message = data["messages"][0] if "messages" in data else data
        chat_ids.add(message["chatId"])
        seqs.append(message["seq"])
    assert len(chat_ids) == 1 and sorted(seqs) == [1, 2]
    page = await customer.call("getMessages", {"chatId": chat_ids.pop()})
    assert [m["seq"] for m in page["data"]["messages"]] == [1, 2]


async def test_a_repeated_client_message_id_stores_and_emits_nothing_new(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    send = {"chatId": chat["id"], "text": "pay now", "clientMessageId": "retry-1"}
    first = await customer.call("sendMessage", send)
    await vendor.next("receiveMessage")
    again = await customer.call("sendMessage", send)
    assert again == first
    await vendor.nothing("receiveMessage")
    # A repeat without an ack gets the event itself, once, and the other side nothing.
    await customer.emit("sendMessage", send)
    assert (await customer.next("receiveMessage")) == first
    await vendor.nothing("receiveMessage")
    # The repeat of a chat's first message answers as the first time: newSentChat.
    again_first = await customer.call("sendMessage", {
        "recipientId": vendor.user_id, "productId": "other", "text": "x",
        "clientMessageId": "first-1"})
    assert again_first["message"] == "New chat created"
    assert (await customer.call("sendMessage", {
        "recipientId": vendor.user_id, "productId": "other", "text": "x",
        "clientMessageId": "first-1"})) == again_first
    page = await customer.call("getMessages", {"chatId": chat["id"]})
    assert [m["text"] for m in page["data"]["messages"]] == ["Is it still available?", "pay now"]


async def test_offline_messages_arrive_once_oldest_first_on_the_next_connect(connect: Any):
    customer = await connect("customer")
    vendor = await connect("vendor", namespaces=("/presence",))
    first = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                                "text": "one"})
    chat_id = first["data"]["id"]
    assert first["data"]["messages"][0]["recipientOnline"] is False
    assert first["data"]["messages"][0]["deliveredAt"] is None
    for text in ("two", "three"):
        await customer.call("sendMessage", {"chatId": chat_id, "text": text})
    device = Client(vendor.url, "vendor", vendor.user_id)
    await device.sio.connect(vendor.url, namespaces=["/presence", "/chat"],
                             transports=["websocket"],
                             auth={"token": make_token("vendor", vendor.user_id)})
    offline = await device.next("offlineMessages")
    assert offline["message"] == "Offline messages has been sent successfully"
    assert offline["hasMore"] is False
    assert [m["text"] for m in offline["data"]] == ["one", "two", "three"]
    assert all(m["deliveredAt"] is not None for m in offline["data"])
    chats = await device.next("userChats")
    assert chats["data"][0]["unreadCount"] == 3
    assert [m["text"] for m in chats["data"][0]["messages"]] == ["three"]
    await device.close()
    again = await connect("vendor", vendor.user_id)
    # Delivered once: the next connect has nothing left.
    assert (await again.next("offlineMessages"))["data"] == []


async def test_join_chat_loads_the_latest_messages_and_marks_them_read(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    for n in range(3):
        await customer.call("sendMessage", {"chatId": chat["id"], "text": f"m{n}"})
    loaded = await vendor.call("joinChat", {"chatId": chat["id"]})
    assert loaded["message"] == "Chats have been loaded"
    assert loaded["data"]["unreadCount"] == 0
    assert [m["seq"] for m in loaded["data"]["messages"]] == [1, 2, 3, 4]
    assert (await vendor.next("loadMessages")) == loaded
    for client in (customer, vendor):
        receipt = await client.next("updateReadReceipts")
        assert receipt["message"] == "Messages marked as read"
        data = receipt["data"]
        assert data["chatId"] == chat["id"] and data["readerId"] == vendor.user_id
        assert data["readerType"] == "VENDOR" and data["readUpToSeq"] == 4
        assert len(data["messageIds"]) == 4 and data["readAt"].endswith("Z")
    # Joining by product and counterpart, and with the event doc's alias chatIds.
    by_key = await customer.call("joinChat", {"productId": "sku-1", "recipientId": vendor.user_id})
    assert by_key["data"]["id"] == chat["id"]
    alias = await customer.call("joinChat", {"chatIds": chat["id"], "userId": 7})
    assert alias["data"]["id"] == chat["id"]
    page = await customer.call("getMessages", {"chatId": chat["id"]})
    assert all(m["read"] and m["readAt"] for m in page["data"]["messages"])


async def test_a_stranger_gets_403_and_an_unknown_chat_404_for_every_chat_event(connect: Any):
    customer, vendor = await pair(connect)
    stranger = await connect("customer")
    chat = await open_chat(customer, vendor)
    messages = await customer.call("getMessages", {"chatId": chat["id"]})
    message_id = messages["data"]["messages"][0]["id"]
    events = {
        "joinChat": {"chatId": chat["id"]},
        "sendMessage": {"chatId": chat["id"], "text": "hi"},
        "markAsRead": {"chatId": chat["id"]},
        "deleteMessage": {"chatId": chat["id"], "messageId": message_id},
        "typing": {"chatId": chat["id"]},
        "stoppedTyping": {"chatId": chat["id"]},
        "getMessages": {"chatId": chat["id"]},
    }
    for event, payload in events.items():
        ack = await stranger.call(event, payload)
        assert ack == {"statusCode": 403, "error": True,
                       "message": "You are not a participant of this chat",
                       "data": {"event": event}}, event
        assert (await stranger.next("appError")) == ack
        missing = await stranger.call(event, {**payload, "chatId": "0" * 24})
        assert missing["statusCode"] == 404 and missing["message"] == "Chat was not found", event
        assert (await stranger.next("appError"))["data"] == {"event": event}


async def test_mark_as_read_sends_receipts_and_says_when_nothing_was_unread(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    await customer.call("sendMessage", {"chatId": chat["id"], "text": "two"})
    ack = await vendor.call("markAsRead", {"productId": "sku-1", "recipientId": customer.user_id})
    assert ack["message"] == "Messages marked as read"
    assert ack["data"]["readUpToSeq"] == 2 and len(ack["data"]["messageIds"]) == 2
    assert (await customer.next("updateReadReceipts")) == ack
    await vendor.nothing("updateReadReceipts")
    nothing = await vendor.call("markAsRead", {"chatId": chat["id"]})
    assert nothing["data"]["messageIds"] == [] and nothing["data"]["readAt"] is None
    assert nothing["data"]["readUpToSeq"] == 2
    await customer.nothing("updateReadReceipts")
    chats = await customer.call("getUserChats")
    assert chats["data"][0]["messages"][0]["read"] is True


async def test_only_the_sender_deletes_and_the_message_is_gone_for_both(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    sent = await customer.call("sendMessage", {"chatId": chat["id"], "text": "secret"})
    message_id = sent["data"]["id"]
    denied = await vendor.call("deleteMessage", {"chatId": chat["id"], "messageId": message_id})
    assert denied["statusCode"] == 403
    assert denied["message"] == "You can only delete your own messages"
    ack = await customer.call("deleteMessage", {"chatId": chat["id"], "messageId": message_id})
    assert ack == {"statusCode": 200, "error": False,
                   "message": "Message has been deleted successfully",
                   "data": {"chatId": chat["id"], "messageId": message_id}}
    assert (await vendor.next("messageDeleted")) == ack
    again = await customer.call("deleteMessage", {"chatId": chat["id"], "messageId": message_id})
    assert again["statusCode"] == 404 and again["message"] == "Message was not found"
    page = await vendor.call("getMessages", {"chatId": chat["id"]})
    assert message_id not in [m["id"] for m in page["data"]["messages"]]
    chats = await vendor.call("getUserChats")
    assert chats["data"][0]["unreadCount"] == 1
    assert chats["data"][0]["messages"][0]["id"] != message_id
    other = await open_chat(customer, vendor, product="sku-2")
    foreign = await customer.call("deleteMessage", {"chatId": other["id"],
                                                    "messageId": chat["messages"][0]["id"]})
    assert foreign["statusCode"] == 404


async def test_typing_is_relayed_to_the_other_side_and_throttled(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    ack = await customer.call("typing", {"chatId": chat["id"]})
    expected = {"chatId": chat["id"], "userId": customer.user_id, "userType": "CUSTOMER"}
    assert ack == {"statusCode": 200, "error": False, "message": "User is typing",
                   "data": expected}
    got = await vendor.next("userTyping")
    assert got == ack
    throttled = await customer.call("typing", {"chatId": chat["id"]})
    assert throttled["statusCode"] == 200
    await vendor.nothing("userTyping")
    stopped = await customer.call("stoppedTyping", {"chatId": chat["id"]})
    assert stopped["message"] == "User has stopped typing" and stopped["data"] == expected
    assert (await vendor.next("stoppedTyping")) == stopped
    await customer.nothing("userTyping")


async def test_user_chats_are_paged_most_recent_first(connect: Any):
    customer = await connect("customer")
    vendors = [await connect("vendor") for _ in range(3)]
    for vendor in vendors:
        await open_chat(customer, vendor, product=f"sku-{vendor.user_id}")
    first = await customer.call("getUserChats", {"limit": 2})
    assert first["message"] == "Chats have been sent successfully"
    assert [c["vendorId"] for c in first["data"]] == [vendors[2].user_id, vendors[1].user_id]
    assert (await customer.next("userChats")) == first
    second = await customer.call("getUserChats", {"limit": 2, "before": first["nextCursor"]})
    assert [c["vendorId"] for c in second["data"]] == [vendors[0].user_id]
    assert second["nextCursor"] is None
    bad = await customer.call("getUserChats", {"before": "garbage!"})
    assert bad["statusCode"] == 400 and bad["data"]["errors"][0]["field"] == "before"


async def test_get_messages_pages_back_through_history(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    for n in range(4):
        await vendor.call("sendMessage", {"chatId": chat["id"], "text": f"r{n}"})
    newest = await customer.call("getMessages", {"chatId": chat["id"], "limit": 2})
    assert newest["message"] == "Messages have been loaded"
    assert [m["seq"] for m in newest["data"]["messages"]] == [4, 5]
    assert newest["data"]["hasMore"] is True and newest["data"]["chatId"] == chat["id"]
    assert (await customer.next("moreMessages")) == newest
    older = await customer.call("getMessages", {"chatId": chat["id"], "before": 4, "limit": 5})
    assert [m["seq"] for m in older["data"]["messages"]] == [1, 2, 3]
    assert older["data"]["hasMore"] is False


async def test_join_rooms_only_confirms(connect: Any):
    customer = await connect("customer")
    for payload in (None, {"chatIds": ["a", "b"]}):
        ack = await customer.call("joinRooms", payload)
        assert ack == {"statusCode": 200, "error": False, "message": "User joined all chat rooms",
                       "data": {}}
    await customer.nothing("joinRooms")


async def test_an_unknown_chat_id_with_product_and_recipient_finds_the_chat(connect: Any):
    customer, vendor = await pair(connect)
    chat = await open_chat(customer, vendor)
    ack = await customer.call("sendMessage", {"chatId": "a7b3c9d0-uuid-made-up", "text": "hi",
                                              "productId": "sku-1", "recipientId": vendor.user_id})
    assert ack["message"] == "New message received" and ack["data"]["chatId"] == chat["id"]
    lost = await customer.call("sendMessage", {"chatId": "a7b3c9d0-uuid-made-up", "text": "hi"})
    assert lost["statusCode"] == 404
    mismatch = await customer.call("sendMessage", {"chatId": chat["id"], "text": "hi",
                                                   "productId": "another"})
    assert mismatch["statusCode"] == 400
    assert mismatch["data"]["errors"][0]["field"] == "productId"
