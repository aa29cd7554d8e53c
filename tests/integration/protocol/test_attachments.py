"""Attachments in chats (SERVER_API.md section 4, PROTOCOL.md section 10): a user uploads
over HTTP, sends the upload's id in ``sendMessage`` (or the backend in ``POST .../messages``),
and every reader of the message gets URLs signed for them; on memory and MongoDB storage."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import media_corpus as corpus
from PIL import Image
from service_support import Client, api, fetch, new_id, upload


def signed_for(url: str) -> str:
    return parse_qs(urlsplit(url).query)["u"][0]


async def uploaded(server: Any, client: Client, data: bytes, name: str, mime: str
                   ) -> dict[str, Any]:
    status, body = await upload(server.url, client.user_type, client.user_id, data, name, mime)
    assert status == 201, body
    return body["data"]  # type: ignore[no-any-return]


async def opened(customer: Client, vendor: Client) -> str:
    ack = await customer.call("sendMessage", {"recipientId": vendor.user_id,
                                              "productId": "p", "text": "is it new?"})
    await vendor.next("newChat")
    return ack["data"]["id"]  # type: ignore[no-any-return]


async def test_a_photo_sent_in_a_message_reaches_the_vendor_with_urls_signed_for_each_side(
    server: Any, connect: Any,
):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    photo = await uploaded(server, customer, corpus.jpeg(1200, 900), "lamp.jpg", "image/jpeg")
    ack = await customer.call("sendMessage", {"chatId": chat_id, "attachments": [photo["id"]]})
    assert ack["statusCode"] == 200, ack
    mine = ack["data"]
    assert mine["text"] is None and [a["id"] for a in mine["attachments"]] == [photo["id"]]
    assert signed_for(mine["attachments"][0]["url"]) == f"customer:{customer.user_id}"

    theirs = (await vendor.next("receiveMessage"))["data"]
    [attachment] = theirs["attachments"]
    assert {k: attachment[k] for k in ("id", "kind", "mime", "name", "width", "height")} == {
        "id": photo["id"], "kind": "image", "mime": "image/jpeg", "name": "lamp.jpg",
        "width": 1200, "height": 900}
    assert signed_for(attachment["url"]) == f"vendor:{vendor.user_id}"
    assert signed_for(attachment["thumbnailUrl"]) == f"vendor:{vendor.user_id}"
    # Clients of the event doc show image attachments through messageImages.
    assert theirs["messageImages"] == [attachment["url"]]

    status, content, mime = await fetch(server.url, attachment["url"])
    assert (status, mime) == (200, "image/jpeg")
    assert Image.open(io.BytesIO(content)).size == (1200, 900)
    status, content, _ = await fetch(server.url, attachment["thumbnailUrl"])
    assert status == 200 and max(Image.open(io.BytesIO(content)).size) <= 320

    history = await vendor.call("getMessages", {"chatId": chat_id})
    latest = history["data"]["messages"][-1]
    assert [a["id"] for a in latest["attachments"]] == [photo["id"]]
    assert signed_for(latest["attachments"][0]["url"]) == f"vendor:{vendor.user_id}"


async def test_a_pdf_is_a_file_attachment_with_a_caption_and_no_image(server: Any,
                                                                     connect: Any):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    invoice = await uploaded(server, vendor, corpus.minimal_pdf(), "invoice.pdf",
                             "application/pdf")
    ack = await vendor.call("sendMessage", {"chatId": chat_id, "text": "your invoice",
                                            "attachments": [invoice["id"]]})
    assert ack["statusCode"] == 200, ack
    received = (await customer.next("receiveMessage"))["data"]
    assert received["text"] == "your invoice" and received["messageImages"] == []
    [attachment] = received["attachments"]
    assert attachment["kind"] == "file" and "thumbnailUrl" not in attachment
    status, content, mime = await fetch(server.url, attachment["url"])
    assert (status, mime) == (200, "application/pdf") and content.startswith(b"%PDF")


async def test_an_offline_vendor_finds_the_attachment_signed_for_them_on_connect(
    server: Any, connect: Any,
):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    await vendor.close()
    await customer.next("userIsOffline")  # the server saw the vendor leave
    photo = await uploaded(server, customer, corpus.png_with_text(), "shot.png", "image/png")
    await customer.call("sendMessage", {"chatId": chat_id, "attachments": [photo["id"]]})
    back = await connect("vendor", vendor.user_id)
    [offline] = back.received("offlineMessages")
    [message] = offline["data"]
    [attachment] = message["attachments"]
    assert attachment["mime"] == "image/png"  # PNG stays PNG, re-encoded
    assert signed_for(attachment["url"]) == f"vendor:{vendor.user_id}"
    [chat] = back.received("userChats")[-1]["data"]
    assert chat["messages"][-1]["attachments"][0]["id"] == photo["id"]
    assert (await fetch(server.url, attachment["url"]))[0] == 200


async def test_attachments_that_are_not_the_senders_own_fresh_uploads_are_400(
    server: Any, connect: Any,
):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    theirs = await uploaded(server, vendor, corpus.jpeg(), "v.jpg", "image/jpeg")
    mine = await uploaded(server, customer, corpus.jpeg(), "c.jpg", "image/jpeg")
    cases = [
        [theirs["id"]],  # someone else's upload
        ["0" * 24],  # no such upload
        ["not-an-id"],
        [mine["id"], mine["id"]],
        [mine["id"]] * 11,
    ]
    for attachments in cases:
        ack = await customer.call("sendMessage", {"chatId": chat_id,
                                                  "attachments": attachments})
        assert ack["statusCode"] == 400, (attachments, ack)
        assert "attachments" in [e["field"] for e in ack["data"]["errors"]], ack
    refused = await customer.call("sendMessage", {"chatId": chat_id, "attachments": "x"})
    assert refused["statusCode"] == 400
    # A refused send used nothing: the upload still goes into one message, then no other.
    ack = await customer.call("sendMessage", {"chatId": chat_id, "attachments": [mine["id"]]})
    assert ack["statusCode"] == 200, ack
    again = await customer.call("sendMessage", {"chatId": chat_id, "attachments": [mine["id"]]})
    assert again["statusCode"] == 400, again
    history = await customer.call("getMessages", {"chatId": chat_id})
    assert [m["seq"] for m in history["data"]["messages"]] == [1, 2]


async def test_a_repeated_send_with_attachments_is_answered_once(server: Any, connect: Any):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    photo = await uploaded(server, customer, corpus.jpeg(), "a.jpg", "image/jpeg")
    payload = {"chatId": chat_id, "attachments": [photo["id"]], "clientMessageId": "att-1"}
    first = await customer.call("sendMessage", payload)
    second = await customer.call("sendMessage", payload)
    assert first["statusCode"] == second["statusCode"] == 200, (first, second)
    assert second["data"]["id"] == first["data"]["id"]
    assert [a["id"] for a in second["data"]["attachments"]] == [photo["id"]]


async def test_deleting_the_message_deletes_its_attachments(server: Any, connect: Any):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    photo = await uploaded(server, customer, corpus.jpeg(), "gone.jpg", "image/jpeg")
    ack = await customer.call("sendMessage", {"chatId": chat_id, "attachments": [photo["id"]]})
    url = (await vendor.next("receiveMessage"))["data"]["attachments"][0]["url"]
    assert (await fetch(server.url, url))[0] == 200
    deleted = await customer.call("deleteMessage", {"chatId": chat_id,
                                                    "messageId": ack["data"]["id"]})
    assert deleted["statusCode"] == 200
    assert (await fetch(server.url, url))[0] == 404


async def test_before_it_is_sent_only_the_uploader_can_see_an_upload(server: Any,
                                                                     connect: Any):
    customer = await connect("customer")
    photo = await uploaded(server, customer, corpus.jpeg(), "draft.jpg", "image/jpeg")
    assert (await fetch(server.url, photo["url"]))[0] == 200
    someone = f"vendor:{new_id()}"
    forged = photo["url"].replace(f"customer:{customer.user_id}".replace(":", "%3A"),
                                  someone.replace(":", "%3A"))
    assert forged != photo["url"]
    assert (await fetch(server.url, forged))[0] == 403


async def test_the_backend_sends_a_users_upload_in_their_name_but_not_as_system(
    server: Any, connect: Any,
):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    photo = await uploaded(server, vendor, corpus.webp(), "label.webp", "image/webp")
    status, body = await api(server.url, "POST", f"/api/v1/chats/{chat_id}/messages",
                             {"senderType": "SYSTEM", "attachments": [photo["id"]]})
    assert status == 400 and body["data"]["errors"][0]["field"] == "attachments", body
    status, body = await api(server.url, "POST", f"/api/v1/chats/{chat_id}/messages",
                             {"senderType": "VENDOR", "text": "the label",
                              "attachments": [photo["id"]]})
    assert status == 201, body
    assert [a["id"] for a in body["data"]["attachments"]] == [photo["id"]]
    received = (await customer.next("receiveMessage"))["data"]
    assert signed_for(received["attachments"][0]["url"]) == f"customer:{customer.user_id}"
    assert (await fetch(server.url, received["attachments"][0]["url"]))[0] == 200


async def test_erasing_a_user_deletes_their_uploads_sent_or_not(server: Any, connect: Any):
    customer, vendor = await connect("customer"), await connect("vendor")
    chat_id = await opened(customer, vendor)
    sent = await uploaded(server, customer, corpus.jpeg(), "sent.jpg", "image/jpeg")
    unsent = await uploaded(server, customer, corpus.minimal_pdf(), "draft.pdf",
                            "application/pdf")
    theirs = await uploaded(server, vendor, corpus.jpeg(), "vendor.jpg", "image/jpeg")
    await customer.call("sendMessage", {"chatId": chat_id, "attachments": [sent["id"]]})
    url = (await vendor.next("receiveMessage"))["data"]["attachments"][0]["url"]
    status, body = await api(server.url, "DELETE", f"/api/v1/users/customer/{customer.user_id}")
    assert status == 200, body
    assert (await fetch(server.url, url))[0] == 404
    assert (await fetch(server.url, unsent["url"]))[0] == 404
    assert (await fetch(server.url, theirs["url"]))[0] == 200  # the counterpart's stay
