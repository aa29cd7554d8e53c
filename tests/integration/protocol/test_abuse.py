"""Bad input of every shape, unknown events, rate limits and packet limits (PROTOCOL.md 2, 7)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import socketio
from service_support import Client

BIG = 2**53


async def chat_of(connect: Any) -> tuple[Client, Client, dict[str, Any]]:
    customer, vendor = await connect("customer"), await connect("vendor")
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                              "text": "first"})
    return customer, vendor, ack["data"]


BAD_SENDS: list[tuple[Any, str]] = [
    (None, "payload"),
    ("text", "payload"),
    ([1, 2], "payload"),
    ({"recipientId": "12", "productId": "p", "text": "x"}, "recipientId"),
    ({"recipientId": True, "productId": "p", "text": "x"}, "recipientId"),
    ({"recipientId": 1.5, "productId": "p", "text": "x"}, "recipientId"),
    ({"recipientId": BIG, "productId": "p", "text": "x"}, "recipientId"),
    ({"recipientId": 0, "productId": "p", "text": "x"}, "recipientId"),
    ({"recipientId": {"$gt": ""}, "productId": "p", "text": "x"}, "recipientId"),
    ({"recipientId": 5, "productId": {"$gt": ""}, "text": "x"}, "productId"),
    ({"recipientId": 5, "productId": "p" * 129, "text": "x"}, "productId"),
    ({"recipientId": 5, "productId": "p", "text": ""}, "text"),
    ({"recipientId": 5, "productId": "p", "text": "   "}, "text"),
    ({"recipientId": 5, "productId": "p", "text": "x" * 5001}, "text"),
    ({"recipientId": 5, "productId": "p", "text": 12}, "text"),
    ({"recipientId": 5, "productId": "p", "messageImages": "https://a/b.png"}, "messageImages"),
    ({"recipientId": 5, "productId": "p", "messageImages": ["ftp://a/b.png"]}, "messageImages"),
    ({"recipientId": 5, "productId": "p", "messageImages": ["https://a/b"] * 11},
     "messageImages"),
    ({"recipientId": 5, "productId": "p", "text": "x", "clientMessageId": "c" * 65},
     "clientMessageId"),
    ({"recipientId": 5, "productId": "p", "text": "x", "productImageUrl": "javascript:x"},
     "productImageUrl"),
    ({"recipientId": 5, "productId": "p", "text": "x", "productPrice": True}, "productPrice"),
    ({"recipientId": 5, "productId": "p", "text": "x", "chatId": 7}, "chatId"),
    ({"recipientId": 5, "productId": "p", "text": "x", "customerName": "s" * 2049}, "customerName"),
    ({"recipientId": 5, "productId": "p", "messageImages": ["http://tracker/p.gif"]}, "messageImages"),
    ({"recipientId": 5, "productId": "p", "text": "x", "customerProfilePic": "http://t/me.png"},
     "customerProfilePic"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_SENDS)
async def test_a_bad_send_is_a_400_naming_the_field_and_stores_nothing(
    connect: Any, payload: Any, field: str
):
    customer = await connect("customer")
    ack = await customer.call("sendMessage", payload)
    assert ack["statusCode"] == 400 and ack["error"] is True, ack
    assert ack["message"] == "Invalid data provided"
    assert ack["data"]["event"] == "sendMessage"
    assert field in [e["field"] for e in ack["data"]["errors"]], ack
    assert (await customer.next("appError")) == ack
    chats = await customer.call("getUserChats")
    assert chats["data"] == []


@pytest.mark.parametrize(("event", "payload", "field"), [
    ("joinChat", {"chatId": {"$ne": None}}, "chatId"),
    ("joinChat", "x", "payload"),
    ("markAsRead", {"chatId": ["a"]}, "chatId"),
    ("deleteMessage", {"chatId": "c"}, "messageId"),
    ("deleteMessage", {"chatId": "c", "messageId": 5}, "messageId"),
    ("typing", 5, "payload"),
    ("getUserChats", {"limit": 0}, "limit"),
    ("getUserChats", {"limit": "10"}, "limit"),
    ("getUserChats", {"limit": 101}, "limit"),
    ("getMessages", {"chatId": "c", "before": -1}, "before"),
    ("getMessages", {"chatId": "c", "limit": 1e3}, "limit"),
    ("checkOnlinePresence", {"userId": 1, "userType": "admin"}, "userType"),
    ("checkOnlinePresence", {"userId": "1", "userType": "vendor"}, "userId"),
    ("checkOnlinePresence", {}, "userId"),
])
async def test_bad_payloads_of_every_event_are_400s(connect: Any, event: str, payload: Any,
                                                    field: str):
    customer = await connect("customer")
    ack = await customer.call(event, payload)
    assert ack["statusCode"] == 400, ack
    assert ack["data"]["event"] == event
    assert field in [e["field"] for e in ack["data"]["errors"]]


async def test_unknown_fields_are_ignored_and_null_means_absent(connect: Any):
    customer, _vendor, chat = await chat_of(connect)
    ack = await customer.call("sendMessage", {"chatId": chat["id"], "text": "ok",
                                              "future": {"deep": [1]}, "productName": None,
                                              "messageImages": None})
    assert ack["statusCode"] == 200 and ack["data"]["seq"] == 2


@pytest.mark.parametrize("event", ["nope", "connect", "disconnect", "connect_error", "x" * 5000])
async def test_unknown_and_reserved_event_names_are_400_unknown_event(connect: Any, event: str):
    customer, vendor, chat = await chat_of(connect)
    ack = await customer.call(event, {"chatId": chat["id"]})
    assert ack["statusCode"] == 400 and ack["message"] == "Unknown event"
    assert ack["data"]["errors"][0]["field"] == "event"
    await customer.next("appError")
    # The connection and the user's presence are untouched.
    assert (await customer.call("joinRooms"))["statusCode"] == 200
    status = await vendor.call("checkOnlinePresence",
                               {"userId": customer.user_id, "userType": "customer"})
    assert status["data"]["status"] is True
    ack = await customer.call("whatever", None, namespace="/presence")
    assert ack["message"] == "Unknown event"


async def test_a_packet_that_is_not_json_is_dropped_and_the_connection_lives(
    connect: Any, monkeypatch: pytest.MonkeyPatch,
):
    # python-socketio's JSON module is process-wide: a server built in this process (the
    # unit tests build some) installs orjson, which would send NaN as null. The client
    # must send what a sloppy client sends.
    monkeypatch.setattr(socketio.packet.Packet, "json", json)
    customer, vendor, chat = await chat_of(connect)
    answered = asyncio.Event()
    await customer.sio.emit("sendMessage", {"chatId": chat["id"], "text": float("nan")},
                            namespace="/chat", callback=lambda *_: answered.set())
    await asyncio.sleep(0.3)
    assert not answered.is_set()
    await vendor.nothing("receiveMessage")
    ok = await customer.call("sendMessage", {"chatId": chat["id"], "text": "fine"})
    assert ok["statusCode"] == 200 and ok["data"]["seq"] == 2


async def test_a_packet_over_the_size_limit_closes_only_that_connection(connect: Any):
    customer, vendor, chat = await chat_of(connect)
    await customer.emit("sendMessage", {"chatId": chat["id"], "text": "x" * 70_000})
    await asyncio.wait_for(customer.disconnected["/chat"].wait(), 5)
    ack = await vendor.call("getMessages", {"chatId": chat["id"]})
    assert [m["text"] for m in ack["data"]["messages"]] == ["first"]


async def test_sending_beyond_the_send_limit_is_429_and_stores_nothing(connect: Any):
    customer, vendor, chat = await chat_of(connect)  # one send token used
    acks = await asyncio.gather(*(
        customer.call("sendMessage", {"chatId": chat["id"], "text": f"n{n}"}) for n in range(14)
    ))
    codes = [a["statusCode"] for a in acks]
    assert set(codes) == {200, 429}, codes
    assert 9 <= codes.count(200) <= 11
    limited = next(a for a in acks if a["statusCode"] == 429)
    assert limited == {"statusCode": 429, "error": True, "message": "Too many requests",
                       "data": {"event": "sendMessage"}}
    await asyncio.sleep(0.2)
    assert len(customer.received("appError")) == 1  # at most once per second per socket
    page = await vendor.call("getMessages", {"chatId": chat["id"], "limit": 100})
    assert len(page["data"]["messages"]) == 1 + codes.count(200)


async def test_requests_beyond_the_request_limit_are_429(connect: Any):
    customer = await connect("customer")
    acks = await asyncio.gather(*(customer.call("joinRooms") for _ in range(70)))
    codes = [a["statusCode"] for a in acks]
    assert codes.count(429) >= 5 and codes.count(200) >= 58
