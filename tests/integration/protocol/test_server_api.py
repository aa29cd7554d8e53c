"""The server API (SERVER_API.md sections 1-3) over real HTTP, while real Socket.IO clients
watch what arrives: an HTTP-made change looks to sockets as if a socket had made it."""

from __future__ import annotations

from typing import Any

from service_support import API_KEY, Client, Server, api, make_token, new_id


async def open_chat(connect: Any, product: str = "sku") -> tuple[Client, Client, dict[str, Any]]:
    customer, vendor = await connect("customer"), await connect("vendor")
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id, "productId": product,
                                              "text": "hello", "customerName": "client name"})
    await vendor.next("newChat")
    return customer, vendor, ack["data"]


async def test_the_server_api_needs_one_of_its_keys(server: Server):
    path = "/api/v1/users/customer/1"
    assert (await api(server.url, "GET", path, key=None))[0] == 401
    status, body = await api(server.url, "GET", path, key="x" * 40)
    assert status == 401 and body == {"statusCode": 401, "error": True,
                                      "message": "Invalid API key"}
    status, _ = await api(server.url, "GET", path, key=make_token("customer", 1))
    assert status == 401  # a user's JWT is not an API key


async def test_a_trusted_profile_shows_in_every_chat_and_participants_are_told(
    server: Server, connect: Any,
):
    customer, vendor, chat = await open_chat(connect)
    status, body = await api(server.url, "PUT", f"/api/v1/users/vendor/{vendor.user_id}",
                             {"name": "Lights & Co", "avatarUrl": "https://cdn.example/l.png"})
    assert status == 200 and body["data"]["name"] == "Lights & Co"
    assert body["data"]["userType"] == "VENDOR"
    for client in (customer, vendor):
        updated = await client.next("chatUpdated")
        assert updated["message"] == "Chat has been updated"
        assert updated["data"]["id"] == chat["id"]
        assert updated["data"]["storeName"] == "Lights & Co"
    await api(server.url, "PUT", f"/api/v1/users/customer/{customer.user_id}",
              {"name": "Ann Trusted", "avatarUrl": None})
    # From now on what clients send for those fields is ignored.
    await customer.call("sendMessage", {"chatId": chat["id"], "text": "x",
                                        "customerName": "Not Ann"})
    joined = (await vendor.call("joinChat", {"chatId": chat["id"]}))["data"]
    assert (joined["customerName"], joined["storeName"]) == ("Ann Trusted", "Lights & Co")
    status, body = await api(server.url, "GET", f"/api/v1/users/customer/{customer.user_id}")
    assert status == 200 and body["data"]["name"] == "Ann Trusted"
    status, body = await api(server.url, "GET", f"/api/v1/users/vendor/{new_id()}")
    assert status == 404 and body["message"] == "User was not found"


async def test_a_trusted_product_replaces_what_clients_sent(server: Server, connect: Any):
    product = f"sku-{new_id()}"
    customer, vendor, _ = await open_chat(connect, product)
    status, body = await api(server.url, "PUT", f"/api/v1/products/{product}",
                             {"name": "Desk lamp", "price": "49.90",
                              "imageUrl": "https://cdn.example/lamp.png"})
    assert status == 200 and body["data"]["price"] == "49.90"
    updated = await customer.next("chatUpdated")
    assert (updated["data"]["productName"], updated["data"]["productPrice"]) == (
        "Desk lamp", "49.90")
    chats = await vendor.call("getUserChats")
    assert chats["data"][0]["productImageUrl"] == "https://cdn.example/lamp.png"
    assert (await api(server.url, "GET", f"/api/v1/products/{product}"))[1]["data"][
        "name"] == "Desk lamp"
    status, body = await api(server.url, "PUT", f"/api/v1/products/{product}",
                             {"imageUrl": "http://tracker.example/p.png"})
    assert status == 400 and body["data"]["errors"][0]["field"] == "imageUrl"


async def test_opening_a_chat_is_idempotent_and_tells_both_participants(
    server: Server, connect: Any,
):
    customer, vendor = await connect("customer"), await connect("vendor")
    order = {"customerId": customer.user_id, "vendorId": vendor.user_id,
             "productId": "order-1001"}
    status, body = await api(server.url, "POST", "/api/v1/chats", order)
    assert status == 201 and body["message"] == "New chat created"
    chat = body["data"]
    assert chat["messages"] == [] and chat["vendorId"] == vendor.user_id
    for client in (customer, vendor):
        told = await client.next("newChat")
        assert told["data"]["id"] == chat["id"] and told["data"]["messages"] == []
    status, again = await api(server.url, "POST", "/api/v1/chats", order)
    assert status == 200 and again["data"]["id"] == chat["id"]
    await customer.nothing("newChat")


async def test_a_system_message_reaches_both_sides_unread_for_both(server: Server, connect: Any):
    customer, vendor, chat = await open_chat(connect)
    phone = await connect("vendor", vendor.user_id)
    payload = {"text": "Your order has shipped", "clientMessageId": "shipped-1"}
    status, body = await api(server.url, "POST", f"/api/v1/chats/{chat['id']}/messages", payload)
    assert status == 201, body
    message = body["data"]
    assert (message["senderType"], message["senderId"]) == ("SYSTEM", None)
    assert (message["recipientType"], message["recipientId"]) == (None, None)
    for client in (customer, vendor, phone):
        got = await client.next("receiveMessage")
        assert got["data"]["id"] == message["id"] and got["data"]["senderType"] == "SYSTEM"
    chats = {c.user_type: (await c.call("getUserChats"))["data"][0] for c in (customer, vendor)}
    assert chats["customer"]["unreadCount"] == 1 and chats["vendor"]["unreadCount"] == 2
    status, repeat = await api(server.url, "POST", f"/api/v1/chats/{chat['id']}/messages",
                               payload)
    assert status == 200 and repeat["data"]["id"] == message["id"]
    await customer.nothing("receiveMessage")
    # Nobody may delete it over the socket.
    refused = await vendor.call("deleteMessage", {"chatId": chat["id"],
                                                  "messageId": message["id"]})
    assert refused["statusCode"] == 403
    read = await customer.call("markAsRead", {"chatId": chat["id"]})
    assert message["id"] in read["data"]["messageIds"]


async def test_a_message_on_a_participants_behalf_is_their_send(server: Server, connect: Any):
    customer, vendor, chat = await open_chat(connect)
    status, body = await api(server.url, "POST", f"/api/v1/chats/{chat['id']}/messages",
                             {"text": "Thanks, we answer within an hour", "senderType": "vendor"})
    assert status == 201 and body["data"]["senderType"] == "VENDOR"
    assert body["data"]["senderId"] == vendor.user_id
    assert (await customer.next("receiveMessage"))["data"]["id"] == body["data"]["id"]


async def test_reading_chats_history_and_unread_counts_from_the_backend(
    server: Server, connect: Any,
):
    customer, vendor, chat = await open_chat(connect)
    for n in range(3):
        await customer.call("sendMessage", {"chatId": chat["id"], "text": f"m{n}"})
    status, body = await api(server.url, "GET", f"/api/v1/chats/{chat['id']}")
    assert status == 200 and body["data"]["unreadCount"] == 0  # as the customer sees it
    assert [m["text"] for m in body["data"]["messages"]] == ["hello", "m0", "m1", "m2"]
    status, page = await api(server.url, "GET",
                             f"/api/v1/chats/{chat['id']}/messages?limit=2&before=4")
    assert status == 200 and [m["seq"] for m in page["data"]["messages"]] == [2, 3]
    assert page["data"]["hasMore"] is True
    path = f"/api/v1/users/vendor/{vendor.user_id}"
    status, chats = await api(server.url, "GET", f"{path}/chats?limit=1")
    assert status == 200 and chats["data"][0]["id"] == chat["id"]
    assert chats["nextCursor"] is None and chats["totalUnread"] == 4
    status, unread = await api(server.url, "GET", f"{path}/unread")
    assert unread["data"] == {"total": 4, "chats": 1}
    status, mine = await api(server.url, "GET", "/api/v1/me/unread",
                             key=make_token("vendor", vendor.user_id))
    assert status == 200 and mine["data"] == {"total": 4, "chats": 1}
    await vendor.call("joinChat", {"chatId": chat["id"]})
    assert (await api(server.url, "GET", f"{path}/unread"))[1]["data"] == {"total": 0, "chats": 0}
    assert (await api(server.url, "GET", "/api/v1/me/unread", key=API_KEY))[0] == 401
    assert (await api(server.url, "GET", f"/api/v1/chats/{'f' * 24}"))[0] == 404


async def test_export_holds_everything_and_erasure_forgets_the_user(server: Server, connect: Any):
    customer, vendor, chat = await open_chat(connect)
    reply = await vendor.call("sendMessage", {"chatId": chat["id"], "text": "hi there"})
    gone = await customer.call("sendMessage", {"chatId": chat["id"], "text": "oops"})
    await customer.call("deleteMessage", {"chatId": chat["id"], "messageId": gone["data"]["id"]})
    await api(server.url, "PUT", f"/api/v1/users/customer/{customer.user_id}", {"name": "Ann"})
    path = f"/api/v1/users/customer/{customer.user_id}"
    status, export = await api(server.url, "GET", f"{path}/export")
    assert status == 200, export
    data = export["data"]
    assert data["profile"]["name"] == "Ann" and data["user"]["type"] == "CUSTOMER"
    [exported] = data["chats"]
    assert [(m["text"], m["deleted"]) for m in exported["messages"]] == [
        ("hello", False), ("hi there", False), (None, True)]

    status, body = await api(server.url, "DELETE", path)
    assert status == 200 and body["data"] == {"chats": 1, "messagesErased": 1}
    first_id = chat["messages"][0]["id"]
    deleted = await vendor.next("messageDeleted",
                                where=lambda d: d["data"]["messageId"] == first_id)
    assert deleted["data"] == {"chatId": chat["id"], "messageId": first_id}
    history = await vendor.call("getMessages", {"chatId": chat["id"]})
    assert [m["id"] for m in history["data"]["messages"]] == [reply["data"]["id"]]
    seen = (await vendor.call("joinChat", {"chatId": chat["id"]}))["data"]
    assert seen["customerName"] is None
    assert (await api(server.url, "GET", path))[0] == 404
    again = await api(server.url, "DELETE", path)
    assert again == (200, {"statusCode": 200, "error": False,
                           "message": "User data has been erased",
                           "data": {"chats": 1, "messagesErased": 0}})


async def test_bad_requests_are_envelopes_never_server_errors(server: Server):
    status, body = await api(server.url, "POST", "/api/v1/chats",
                             {"customerId": "1", "vendorId": 0})
    assert status == 400 and {e["field"] for e in body["data"]["errors"]} == {
        "customerId", "vendorId", "productId"}
    status, body = await api(server.url, "PUT", "/api/v1/users/admin/x", {})
    assert status == 400 and {e["field"] for e in body["data"]["errors"]} == {"type", "id"}
    status, body = await api(server.url, "POST", "/api/v1/chats", raw=b"{not json",
                             headers={"Content-Type": "application/json"})
    assert status == 400 and body["data"]["errors"][0]["field"] == "body"
    status, body = await api(server.url, "PUT", "/api/v1/products/p", raw=b" " * 70_000,
                             headers={"Content-Type": "application/json"})
    assert status == 413 and body["error"] is True
    status, body = await api(server.url, "GET", "/api/v1/nothing/here")
    assert status == 404 and body == {"statusCode": 404, "error": True, "message": "Not found"}
    status, body = await api(server.url, "PATCH", "/api/v1/chats")
    assert status == 405 and body["message"] == "Method not allowed"
    status, body = await api(server.url, "POST", f"/api/v1/chats/{'e' * 24}/messages",
                             {"text": "x", "senderType": "ROBOT"})
    assert status == 400 and body["data"]["errors"][0]["field"] == "senderType"


async def test_the_openapi_document_is_served(server: Server):
    status, document = await api(server.url, "GET", "/api/v1/openapi.json", key=None)
    assert status == 200 and document["openapi"] == "3.1.0"
    assert "/api/v1/chats/{chat_id}/messages" in document["paths"]
