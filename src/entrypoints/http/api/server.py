"""The server API (SERVER_API.md sections 2 and 3): what the marketplace's backend does.

Every route calls the same use cases as the socket events and hands their events to the
same publisher, so a socket client sees an HTTP-made change exactly as if a socket had made
it. Authenticated by API keys; without any, these routes do not exist (404).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from chat_server.application.bus import EventPublisher
from chat_server.application.events import Outcome
from chat_server.application.ports import UnreadCounters
from chat_server.application.use_cases import (
    Caller,
    ChatRef,
    GetUserChats,
    GetUserChatsHandler,
    SendMessage,
    SendMessageHandler,
)
from chat_server.application.use_cases.backend import (
    BackendReads,
    Directory,
    OpenChat,
    OpenChatHandler,
    PostSystemMessage,
    PostSystemMessageHandler,
    SetProduct,
    SetProfile,
)
from chat_server.application.use_cases.privacy import EraseUser, ExportUser
from chat_server.domain.directory import Product, Profile
from chat_server.domain.model import ChatKey, UserRef
from chat_server.entrypoints.http.api.common import (
    ApiKeys,
    Handler,
    answering,
    envelope,
    path_user,
    query_int,
    read_json,
)
from chat_server.entrypoints.socketio import wire
from chat_server.entrypoints.socketio.cursor import BadCursor, decode_cursor
from chat_server.entrypoints.socketio.payloads import Fields, PayloadError
from chat_server.entrypoints.socketio.routes import user_chats_envelope

logger = logging.getLogger("chat_server.api")

SENDER_TYPES = ("SYSTEM", "CUSTOMER", "VENDOR")


@attrs.frozen
class ServerApi:
    """What the server API runs."""

    keys: ApiKeys
    publisher: EventPublisher
    directory: Directory
    open_chat: OpenChatHandler
    post_system: PostSystemMessageHandler
    send_message: SendMessageHandler
    reads: BackendReads
    user_chats: GetUserChatsHandler
    counters: UnreadCounters
    export: ExportUser
    erase: EraseUser


def profile_json(profile: Profile) -> dict[str, Any]:
    return {"userId": profile.user.id, "userType": wire.user_type(profile.user),
            "name": profile.name, "avatarUrl": profile.avatar_url,
            "updatedAt": wire.iso(profile.updated_at)}


def product_json(product: Product) -> dict[str, Any]:
    return {"productId": product.product_id, "name": product.name, "price": product.price,
            "imageUrl": product.image_url, "updatedAt": wire.iso(product.updated_at)}


def server_api_routes(api: ServerApi) -> list[BaseRoute]:
    async def published(outcome: Outcome[Any]) -> Any:
        await api.publisher.publish(outcome.events)
        return outcome.result

    def guarded(what: str, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            if not api.keys.enabled:
                return envelope(404, "Not found")
            api.keys.check(request)
            return await handler(request)

        return answering(what, run)

    async def put_profile(request: Request) -> Response:
        user = path_user(request)
        f = Fields(await read_json(request))
        name, avatar = f.string("name"), f.string("avatarUrl")
        f.done()
        profile = await published(await api.directory.set_profile(SetProfile(user, name, avatar)))
        return envelope(200, "Profile has been saved", profile_json(profile))

    async def get_profile(request: Request) -> Response:
        profile = await api.directory.profile(path_user(request))
        return envelope(200, "Profile has been loaded", profile_json(profile))

    async def put_product(request: Request) -> Response:
        product_id = request.path_params["product_id"]
        f = Fields(await read_json(request))
        name, price, image = f.string("name"), f.price("price"), f.string("imageUrl")
        f.done()
        product = await published(await api.directory.set_product(
            SetProduct(product_id, name, price, image)))
        return envelope(200, "Product has been saved", product_json(product))

    async def get_product(request: Request) -> Response:
        product = await api.directory.product(request.path_params["product_id"])
        return envelope(200, "Product has been loaded", product_json(product))

    async def post_chat(request: Request) -> Response:
        f = Fields(await read_json(request))
        customer_id, vendor_id = f.identifier("customerId", True), f.identifier("vendorId", True)
        product_id = f.string("productId", required=True)
        f.done()
        assert customer_id is not None and vendor_id is not None and product_id is not None
        opened = await published(await api.open_chat(
            OpenChat(ChatKey(product_id, customer_id, vendor_id))))
        chat = wire.chat_json(opened.chat, opened.chat.vendor, [])
        if opened.created:
            return envelope(201, "New chat created", chat)
        return envelope(200, "Chat was found", chat)

    async def get_chat(request: Request) -> Response:
        found = await api.reads.chat(request.path_params["chat_id"])
        chat = wire.chat_json(found.chat, found.chat.customer, found.messages)
        return envelope(200, "Chats have been loaded", chat)

    async def get_messages(request: Request) -> Response:
        before = query_int(request, "before", 1, 2**53 - 1, None)
        limit = query_int(request, "limit", 1, 100, 50)
        assert limit is not None
        page = await api.reads.history(request.path_params["chat_id"], before, limit)
        return envelope(200, "Messages have been loaded", {
            "chatId": page.chat_id,
            "messages": [wire.message_json(m) for m in page.messages],
            "hasMore": page.has_more})

    async def post_message(request: Request) -> Response:
        chat_id = request.path_params["chat_id"]
        f = Fields(await read_json(request))
        text, images = f.string("text"), f.string_list("messageImages")
        client_message_id = f.string("clientMessageId")
        attachments = tuple(f.string_list("attachments") or ())
        sender_type = (f.string("senderType") or "SYSTEM").upper()
        if sender_type not in SENDER_TYPES:
            f.errors.append({"field": "senderType", "message": "must be SYSTEM, CUSTOMER or VENDOR"})
        elif sender_type == "SYSTEM" and attachments:
            # Uploads belong to the user who made them; the backend has none of its own.
            f.errors.append({"field": "attachments",
                             "message": "only a CUSTOMER or VENDOR message can carry uploads"})
        f.done()
        if sender_type == "SYSTEM":
            posted = await published(await api.post_system(PostSystemMessage(
                chat_id, text, images, client_message_id)))
            message, created = posted.message, posted.created
        else:
            chat = (await api.reads.chat(chat_id)).chat
            sender = chat.customer if sender_type == "CUSTOMER" else chat.vendor
            outcome = await api.send_message(SendMessage(
                Caller(sender), ChatRef(chat_id), text=text, images=images,
                client_message_id=client_message_id, attachment_ids=attachments))
            await api.publisher.publish(outcome.events)
            message, created = outcome.result.message, bool(outcome.events)
        body = wire.message_json(message)
        return envelope(201 if created else 200, "New message received", body)

    async def get_user_chats(request: Request) -> Response:
        user = path_user(request)
        limit = query_int(request, "limit", 1, 100, 20)
        assert limit is not None
        before = request.query_params.get("before")
        try:
            after = decode_cursor(before) if before is not None else None
        except BadCursor:
            raise PayloadError([{"field": "before",
                                 "message": "is not a cursor given by this server"}]) from None
        page = await api.user_chats(GetUserChats(Caller(user), limit, after))
        body = user_chats_envelope(page, user)
        return envelope(200, body["message"], body["data"], nextCursor=body["nextCursor"],
                        totalUnread=body["totalUnread"])

    async def get_unread(request: Request) -> Response:
        totals = await api.counters.totals(path_user(request))
        return envelope(200, "Unread messages have been counted",
                        {"total": totals.total, "chats": totals.chats})

    async def export(request: Request) -> Response:
        user = path_user(request)
        data = await api.export(user)
        return StreamingResponse(_export_body(api.export, user, data),
                                 media_type="application/json")

    async def erase(request: Request) -> Response:
        erased = await published(await api.erase(path_user(request)))
        return envelope(200, "User data has been erased",
                        {"chats": erased.chats, "messagesErased": erased.messages_erased})

    users = "/api/v1/users/{user_type}/{user_id}"
    chats = "/api/v1/chats/{chat_id}"
    products = "/api/v1/products/{product_id}"
    table: dict[str, dict[str, tuple[str, Handler]]] = {
        users: {"PUT": ("put profile", put_profile), "GET": ("get profile", get_profile),
                "DELETE": ("erase user", erase)},
        f"{users}/chats": {"GET": ("user chats", get_user_chats)},
        f"{users}/unread": {"GET": ("user unread", get_unread)},
        f"{users}/export": {"GET": ("export user", export)},
        products: {"PUT": ("put product", put_product), "GET": ("get product", get_product)},
        "/api/v1/chats": {"POST": ("open chat", post_chat)},
        chats: {"GET": ("get chat", get_chat)},
        f"{chats}/messages": {"GET": ("get messages", get_messages),
                              "POST": ("post message", post_message)},
    }
    return [by_method(path, {m: guarded(what, h) for m, (what, h) in handlers.items()})
            for path, handlers in table.items()]


def by_method(path: str, handlers: dict[str, Handler]) -> Route:
    """One route per path, so that a wrong method's 405 lists every method of the path."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, endpoint, methods=list(handlers))


async def _export_body(export: ExportUser, user: UserRef, data: Any) -> AsyncIterator[bytes]:
    """One JSON document, written as it is read: a user's history is never held whole. A
    storage failure half way ends the body early (it no longer parses), and is logged."""
    head = {"user": {"id": user.id, "type": wire.user_type(user)},
            "profile": profile_json(data.profile) if data.profile else None,
            "lastSeen": wire.iso(data.last_seen)}
    yield (b'{"statusCode":200,"error":false,"message":"User data has been exported","data":'
           + orjson.dumps(head)[:-1] + b',"chats":[')
    try:
        first_chat = True
        async for chat in data.chats:
            fields = wire.chat_json(chat, user, [])
            del fields["messages"]
            yield (b"" if first_chat else b",") + orjson.dumps(fields)[:-1] + b',"messages":['
            first_chat = False
            first = True
            async for page in export.messages(chat):
                rows = [orjson.dumps({**wire.message_json(m, user), "deleted": m.deleted})
                        for m in page]
                yield (b"" if first else b",") + b",".join(rows)
                first = False
            yield b"]}"
    except Exception:
        logger.exception("exporting %s failed half way", user)
        return
    yield b"]}}"

