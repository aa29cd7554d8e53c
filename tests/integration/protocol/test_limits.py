"""What one account may do to others (issue "hold up under abuse"): display fields it does
not own, URLs the other side's client would load, presence it has not earned, presence
flooding, reconnecting in a loop, sockets without end, chats without end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from service_support import SECRET, Client, Devices, Server, make_token, new_id


async def test_each_side_writes_only_its_own_display_fields(connect: Any):
    customer, vendor = await connect("customer"), await connect("vendor")
    opened = await customer.call("sendMessage", {
        "recipientId": vendor.user_id, "productId": "sku", "text": "hi",
        "productName": "Lamp", "productPrice": "20", "customerName": "Ann",
        "storeName": "Scam store", "storeLogoUrl": "https://tracker.example/logo.png",
    })
    chat = opened["data"]
    assert (chat["productName"], chat["customerName"]) == ("Lamp", "Ann")
    assert chat["storeName"] is None and chat["storeLogoUrl"] is None
    # Later, the customer can neither rename the product nor reprice it.
    later = await customer.call("sendMessage", {"chatId": chat["id"], "text": "0.01?",
                                                "productPrice": "0.01", "productName": "Free"})
    assert later["statusCode"] == 200
    joined = await customer.call("joinChat", {"chatId": chat["id"]})
    assert (joined["data"]["productName"], joined["data"]["productPrice"]) == ("Lamp", "20")
    # The vendor refreshes the product and names its store, but not the customer.
    await vendor.call("sendMessage", {"chatId": chat["id"], "text": "yes", "productPrice": "18",
                                      "storeName": "Lights", "customerName": "Not Ann"})
    seen = (await vendor.call("joinChat", {"chatId": chat["id"]}))["data"]
    assert (seen["productPrice"], seen["storeName"], seen["customerName"]) == (
        "18", "Lights", "Ann")


@pytest.mark.parametrize(("field", "value"), [
    ("messageImages", ["http://tracker.example/pixel.gif"]),
    ("customerProfilePic", "http://tracker.example/me.png"),
    ("productImageUrl", "http://tracker.example/p.png"),
])
async def test_urls_the_other_side_loads_must_be_https(connect: Any, field: str, value: Any):
    customer = await connect("customer")
    ack = await customer.call("sendMessage", {"recipientId": new_id(), "productId": "p",
                                              "text": "look", field: value})
    assert ack["statusCode"] == 400
    assert field in [e["field"] for e in ack["data"]["errors"]]


async def test_an_unsolicited_message_earns_no_presence_of_a_customer(connect: Any):
    vendor = await connect("vendor")
    customer = await connect("customer", namespaces=("/presence",))
    ack = await vendor.call("sendMessage", {"recipientId": customer.user_id, "productId": "p",
                                            "text": "buy now"})
    assert ack["statusCode"] == 200
    about = {"userId": customer.user_id, "userType": "customer"}
    refused = await vendor.call("checkOnlinePresence", about, "/presence")
    assert refused["statusCode"] == 403
    # The customer comes online on a second device: the vendor is not told.
    await connect("customer", customer.user_id)
    await customer.close()
    await vendor.nothing("userIsOnline", within=0.8, namespace="/presence",
                         where=lambda d: d["data"]["userId"] == customer.user_id)
    assert vendor.received("userIsOffline") == []
    # Once the customer answers, the vendor may see them.
    chat_id = ack["data"]["id"]
    chat_device = await connect("customer", customer.user_id)
    assert (await chat_device.call("sendMessage", {"chatId": chat_id, "text": "no"}))[
        "statusCode"] == 200
    assert (await vendor.call("checkOnlinePresence", about, "/presence"))["data"]["status"]


async def test_reopening_presence_in_a_loop_announces_nothing(connect: Any):
    vendor = await connect("vendor")
    customer = await connect("customer")
    await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": "p",
                                        "text": "hello"})
    flapper = await connect("customer", customer.user_id, namespaces=("/presence",))
    await flapper.close()
    for _ in range(8):  # quicker than the offline delay each time
        again = await connect("customer", customer.user_id, namespaces=("/presence",))
        await again.close()
    await customer.close()  # now really gone
    offline = await vendor.next("userIsOffline", namespace="/presence")
    assert offline["data"]["userId"] == customer.user_id
    # Exactly one offline, and no online at all for the whole loop.
    assert len(vendor.received("userIsOffline")) == 1
    assert [d for d in vendor.received("userIsOnline")
            if d["data"]["userId"] == customer.user_id] == []


# --- a server with small bounds, for the tests that exhaust them -------------------------


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_PRESENCE_GRACE_S": "1",
           "CHAT_MAX_SOCKETS_PER_USER": "3", "CHAT_CONNECT_BURST": "12",
           "CHAT_CONNECT_RATE": "1/1h", "CHAT_NEW_CHAT_BURST": "3", "CHAT_NEW_CHAT_RATE": "1/1h"}
    server = Server(env, tmp_path_factory.mktemp("tight") / "chat-server.log").start()
    yield server
    server.stop()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    opened = Devices()
    yield opened
    await opened.close_all()


async def connect_error(server: Server, user_type: str, user_id: int, namespace: str) -> Any:
    client = Client(server.url, user_type, user_id)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(server.url, namespaces=[namespace], transports=["websocket"],
                                 auth={"token": make_token(user_type, user_id)}, wait_timeout=5)
    return client.connect_errors[namespace]


async def test_a_user_holds_at_most_the_socket_cap_the_newest_is_refused(
    tight: Server, devices: Devices,
):
    user = new_id()
    held = [await devices.open(tight.url, "customer", user, namespaces=("/presence",))
            for _ in range(3)]
    refused = await connect_error(tight, "customer", user, "/presence")
    assert refused["data"] == {"error": True, "statusCode": 429,
                               "message": "Too many connections"}
    assert all(c.sio.connected for c in held)  # the older ones keep working
    await held[0].close()
    await asyncio.sleep(0.1)
    await devices.open(tight.url, "customer", user, namespaces=("/presence",))


async def test_reconnecting_in_a_loop_runs_out_of_connect_tokens(tight: Server):
    user = new_id()
    codes = []
    for _ in range(14):
        client = Client(tight.url, "vendor", user)
        try:
            await client.sio.connect(tight.url, namespaces=["/presence"],
                                     auth={"token": make_token("vendor", user)},
                                     transports=["websocket"], wait_timeout=5)
            codes.append(200)
            await client.sio.disconnect()
        except socketio.exceptions.ConnectionError:
            codes.append(client.connect_errors["/presence"]["data"]["statusCode"])
    assert codes[:12] == [200] * 12 and codes[12:] == [429, 429]


async def test_new_chats_per_sender_are_limited_on_top_of_the_send_bucket(
    tight: Server, devices: Devices,
):
    customer = await devices.open(tight.url, "customer")
    acks = [await customer.call("sendMessage", {"recipientId": new_id(), "productId": "p",
                                                "text": "hi"}) for _ in range(4)]
    assert [a["statusCode"] for a in acks] == [200, 200, 200, 429]
    chat_id = acks[0]["data"]["id"]
    ok = await customer.call("sendMessage", {"chatId": chat_id, "text": "still fine"})
    assert ok["statusCode"] == 200


def test_the_bounds_are_documented():
    limits = (Path(__file__).resolve().parents[3] / "docs" / "limits.md").read_text()
    for setting in ("CHAT_MAX_SOCKETS_PER_USER", "CHAT_CONNECT_RATE", "CHAT_NEW_CHAT_RATE",
                    "CHAT_PRESENCE_OFFLINE_DELAY_S", "CHAT_STORAGE_TIMEOUT_S",
                    "CHAT_REQUEST_COST_BYTES", "CHAT_ALLOWED_MEDIA_HOSTS"):
        assert setting in limits, setting
