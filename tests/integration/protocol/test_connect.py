"""Authentication, presence, the /chat gate, token expiry and HTTP (PROTOCOL.md 1, 5, 6, 8)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from service_support import SECRET, Client, Server, http_json, make_token, new_id


async def refused(server: Server, namespace: str = "/presence", **connect: Any) -> Any:
    client = Client(server.url, "customer", new_id())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(server.url, namespaces=[namespace], transports=["websocket"],
                                 wait_timeout=5, **connect)
    return client.connect_errors[namespace]


def unauthorised(message: str) -> dict[str, Any]:
    return {"message": message, "data": {"error": True, "statusCode": 401, "message": message}}


@pytest.mark.parametrize("namespace", ["/presence", "/chat"])
async def test_a_connection_without_a_token_is_refused_with_401(server: Server, namespace: str):
    assert await refused(server, namespace) == unauthorised("Token missing")


async def test_an_expired_token_is_refused(server: Server):
    token = make_token("customer", new_id(), ttl=-10)
    assert await refused(server, auth={"token": token}) == unauthorised("Token expired")


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    make_token("customer", 5, secret="another-secret-0123456789abcdef-0123"),
    make_token("customer", "abc"),  # type: ignore[arg-type]
    make_token("customer", 0),
    make_token("customer", 5, exp=10**400),  # once an uncaught OverflowError: no answer
    make_token("customer", 5, exp=True),  # once read as 1
    make_token("customer", 5, exp="9999999999"),
    make_token("customer", "002"),  # type: ignore[arg-type]  # once read as user 2
], ids=["not-a-jwt", "other-secret", "non-numeric-sub", "zero", "huge-exp", "boolean-exp",
        "string-exp", "zero-padded-sub"])
async def test_a_bad_token_is_refused_as_invalid(server: Server, token: str):
    assert await refused(server, auth={"token": token}) == unauthorised("Invalid token")


async def test_a_token_without_exp_is_invalid(server: Server):
    import jwt
    token = jwt.encode({"sub": "5", "userType": "customer"}, SECRET, algorithm="HS256")
    assert await refused(server, auth={"token": token}) == unauthorised("Invalid token")


async def test_a_token_of_another_user_type_is_unauthorized(server: Server):
    token = make_token("admin", new_id())
    assert await refused(server, auth={"token": token}) == unauthorised("Unauthorized")


async def test_the_token_header_and_a_bearer_authorization_are_accepted(server: Server):
    for headers in ({"token": make_token("vendor", new_id())},
                    {"Authorization": f"Bearer {make_token('vendor', new_id())}"}):
        client = Client(server.url, "vendor", 0)
        await client.sio.connect(server.url, namespaces=["/presence"], headers=headers,
                                 transports=["websocket"], wait_timeout=5)
        online = await client.next("userIsOnline")
        assert online["data"]["userType"] == "VENDOR"
        await client.close()


async def test_event_doc_claims_shape_is_accepted(server: Server, connect: Any):
    user_id = new_id()
    token = make_token("x", user_id, data={"id": user_id}, types=["customer"])
    client = await connect("customer", user_id, namespaces=("/presence",), token=token)
    online = await client.next("userIsOnline", namespace="/presence")
    assert online == {"statusCode": 200, "error": False, "message": "User is online",
                      "data": {"userId": user_id, "userType": "CUSTOMER"}}


async def chat_between(customer: Client, vendor: Client, product: str = "p-1") -> dict[str, Any]:
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": product,
                                              "text": "hello"})
    assert ack["statusCode"] == 200, ack
    return ack["data"]  # type: ignore[no-any-return]


async def test_presence_reaches_counterparts_once_per_user_not_per_device(connect: Any):
    vendor = await connect("vendor")
    customer = await connect("customer")
    await chat_between(customer, vendor)
    # A second device of the customer: no new userIsOnline for the vendor (1 -> 2).
    second = await connect("customer", customer.user_id)
    await vendor.nothing("userIsOnline", namespace="/presence",
                         where=lambda d: d["data"]["userId"] == customer.user_id)
    await customer.close()
    await vendor.nothing("userIsOffline")  # still online on the second device
    await second.close()
    offline = await vendor.next("userIsOffline", namespace="/presence")
    assert offline["message"] == "User has gone offline"
    assert offline["data"]["userId"] == customer.user_id
    assert offline["data"]["userType"] == "CUSTOMER"
    assert offline["data"]["lastSeen"].endswith("Z")
    # Coming back announces it again (0 -> 1).
    await connect("customer", customer.user_id, namespaces=("/presence",))
    online = await vendor.next("userIsOnline", namespace="/presence",
                               where=lambda d: d["data"]["userId"] == customer.user_id)
    assert online["data"]["userType"] == "CUSTOMER"


async def test_check_online_presence_answers_about_counterparts_only(connect: Any):
    vendor = await connect("vendor")
    customer = await connect("customer")
    await chat_between(customer, vendor)
    for namespace in ("/presence", "/chat"):
        ack = await customer.call("checkOnlinePresence",
                                  {"userId": vendor.user_id, "userType": "vendor"}, namespace)
        assert ack == {"statusCode": 200, "error": False, "message": "User is online",
                       "data": {"userId": vendor.user_id, "userType": "VENDOR", "status": True,
                                "lastSeen": None}}
        assert await customer.next("onlinePresence", namespace=namespace) == ack
    await vendor.close()
    await customer.next("userIsOffline")
    ack = await customer.call("checkOnlinePresence",
                              {"userId": vendor.user_id, "userType": "VENDOR"}, "/presence")
    assert ack["message"] == "User is offline"
    assert ack["data"]["status"] is False and ack["data"]["lastSeen"].endswith("Z")
    stranger = await customer.call("checkOnlinePresence",
                                   {"userId": new_id(), "userType": "vendor"}, "/presence")
    assert stranger == {"statusCode": 403, "error": True,
                        "message": "You do not share a chat with this user",
                        "data": {"event": "checkOnlinePresence"}}
    assert (await customer.next("appError"))["statusCode"] == 403


async def test_chat_without_presence_is_refused_after_the_grace_period(connect: Any):
    client = await connect("customer", namespaces=())
    await client.sio.connect(client.url, namespaces=["/chat"], transports=["websocket"],
                             auth={"token": make_token("customer", client.user_id)})
    error = await client.next("appError", namespace="/chat", timeout=5)
    assert error == {"statusCode": 403, "error": True,
                     "message": "User is not online. Connect to the /presence namespace first",
                     "data": {"event": "connect"}}
    await asyncio.wait_for(client.disconnected["/chat"].wait(), 5)


async def test_chat_accepts_a_presence_connection_that_arrives_during_the_grace(connect: Any):
    client = await connect("vendor", namespaces=())
    token = make_token("vendor", client.user_id)
    other = Client(client.url, "vendor", client.user_id)
    await client.sio.connect(client.url, namespaces=["/chat"], transports=["websocket"],
                             auth={"token": token})
    # Events sent before the gate passes are answered after it.
    pending = asyncio.ensure_future(client.call("joinRooms"))
    await asyncio.sleep(0.3)
    await other.connect(("/presence",), token=token)
    offline = await client.next("offlineMessages", namespace="/chat")
    assert offline == {"statusCode": 200, "error": False,
                       "message": "Offline messages has been sent successfully", "data": [],
                       "hasMore": False}
    chats = await client.next("userChats", namespace="/chat")
    assert chats["message"] == "Chats have been sent successfully"
    assert chats["data"] == [] and chats["nextCursor"] is None
    assert (await pending)["message"] == "User joined all chat rooms"
    await other.close()


async def test_a_connection_whose_token_expires_gets_401_and_is_disconnected(connect: Any):
    user_id = new_id()
    client = await connect("customer", user_id, token=make_token("customer", user_id, ttl=2))
    error = await client.next("appError", timeout=6)
    assert error == {"statusCode": 401, "error": True, "message": "Token expired",
                     "data": {"event": "connect"}}
    await asyncio.wait_for(client.disconnected["/chat"].wait(), 5)
    await asyncio.wait_for(client.disconnected["/presence"].wait(), 5)


def test_the_polling_transport_is_offered_and_authenticates(server: Server):
    """A raw Engine.IO long-polling session (python-socketio's client takes a ping interval
    to close a polling session, so the exchange is driven by hand)."""
    import json
    import urllib.request

    base = f"{server.url}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(base, timeout=5) as response:
        opened = response.read().decode()
    assert opened.startswith("0")
    sid = json.loads(opened[1:])["sid"]
    token = make_token("customer", new_id())
    connect = f'40/presence,{json.dumps({"token": token})}'.encode()
    request = urllib.request.Request(f"{base}&sid={sid}", data=connect, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"OK"
    with urllib.request.urlopen(f"{base}&sid={sid}", timeout=5) as response:
        packets = response.read().decode().split("\x1e")
    assert packets[0].startswith("40/presence,")
    assert any(p.startswith('42/presence,["userIsOnline"') for p in packets) or len(packets) == 1
    close = urllib.request.Request(f"{base}&sid={sid}", data=b"1", method="POST")
    urllib.request.urlopen(close, timeout=5).close()


def test_health_and_readiness(server: Server):
    assert http_json(f"{server.url}/healthz") == (200, {"status": "ok"})
    assert http_json(f"{server.url}/readyz") == (200, {"status": "ready"})


def test_no_token_endpoint_and_no_demo_page_outside_development_mode(server: Server):
    status, _ = http_json(f"{server.url}/dev/token", "POST", {"type": "customer", "id": 1})
    assert status in (404, 405)
    assert http_json(f"{server.url}/")[0] == 404
