"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/v1/openapi.json``.

Written by hand from what the routes do; ``tests/integration/test_api_schema.py`` fuzzes
every route against it (schemathesis), so it cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_server import __version__

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING, INTEGER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
TIME = _nullable({"type": "string", "format": "date-time"})
USER_TYPE = {"type": "string", "enum": ["CUSTOMER", "VENDOR"]}
PRICE = _nullable({"anyOf": [{"type": "string"}, {"type": "number"}]})

SCHEMAS: dict[str, Schema] = {
    "FieldError": {"type": "object", "required": ["field", "message"],
                   "properties": {"field": STRING, "message": STRING}},
    "Error": {
        "type": "object", "required": ["statusCode", "error", "message"],
        "properties": {
            "statusCode": INTEGER, "error": {"const": True}, "message": STRING,
            "data": {"type": "object", "properties": {
                "errors": {"type": "array", "items": _ref("FieldError")}}},
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "chatId", "seq", "senderId", "senderType", "recipientId",
                     "recipientType", "text", "messageImages", "read", "readAt",
                     "recipientOnline", "deliveredAt", "clientMessageId", "timestamp",
                     "createdAt", "updatedAt"],
        "properties": {
            "id": STRING, "chatId": STRING, "seq": INTEGER,
            "senderId": _nullable(INTEGER),
            "senderType": {"type": "string", "enum": ["CUSTOMER", "VENDOR", "SYSTEM"]},
            "recipientId": _nullable(INTEGER), "recipientType": _nullable(USER_TYPE),
            "text": _nullable(STRING), "messageImages": {"type": "array", "items": STRING},
            "read": BOOLEAN, "readAt": TIME, "recipientOnline": BOOLEAN, "deliveredAt": TIME,
            "clientMessageId": _nullable(STRING), "timestamp": TIME, "createdAt": TIME,
            "updatedAt": TIME, "deleted": BOOLEAN, "messageId": STRING,
            "editedAt": TIME, "masked": BOOLEAN,
            "attachments": {"type": "array", "items": _ref("Attachment")},
        },
    },
    "Attachment": {
        "type": "object", "required": ["id", "kind", "mime", "size", "name", "url"],
        "properties": {
            "id": STRING, "kind": {"type": "string", "enum": ["image", "file"]},
            "mime": STRING, "size": INTEGER, "name": STRING, "width": INTEGER,
            "height": INTEGER, "url": STRING, "thumbnailUrl": STRING,
        },
    },
    "Chat": {
        "type": "object",
        "required": ["id", "productId", "customerId", "vendorId", "productName",
                     "productImageUrl", "productPrice", "storeName", "storeLogoUrl",
                     "customerName", "customerProfilePic", "createdAt", "updatedAt",
                     "lastMessageAt", "unreadCount", "messages"],
        "properties": {
            "id": STRING, "productId": STRING, "customerId": INTEGER, "vendorId": INTEGER,
            "productName": _nullable(STRING), "productImageUrl": _nullable(STRING),
            "productPrice": PRICE, "storeName": _nullable(STRING),
            "storeLogoUrl": _nullable(STRING), "customerName": _nullable(STRING),
            "customerProfilePic": _nullable(STRING), "createdAt": TIME, "updatedAt": TIME,
            "lastMessageAt": TIME, "unreadCount": INTEGER,
            "messages": {"type": "array", "items": _ref("Message")},
        },
    },
    "Profile": {
        "type": "object", "required": ["userId", "userType", "name", "avatarUrl", "updatedAt"],
        "properties": {"userId": INTEGER, "userType": USER_TYPE, "name": _nullable(STRING),
                       "avatarUrl": _nullable(STRING), "updatedAt": TIME},
    },
    "Product": {
        "type": "object", "required": ["productId", "name", "price", "imageUrl", "updatedAt"],
        "properties": {"productId": STRING, "name": _nullable(STRING), "price": PRICE,
                       "imageUrl": _nullable(STRING), "updatedAt": TIME},
    },
    "MessagePage": {
        "type": "object", "required": ["chatId", "messages", "hasMore"],
        "properties": {"chatId": STRING, "hasMore": BOOLEAN,
                       "messages": {"type": "array", "items": _ref("Message")}},
    },
    "Unread": {"type": "object", "required": ["total", "chats"],
               "properties": {"total": INTEGER, "chats": INTEGER}},
    "Erased": {"type": "object", "required": ["chats", "messagesErased"],
               "properties": {"chats": INTEGER, "messagesErased": INTEGER}},
    "UserExport": {
        "type": "object", "required": ["user", "profile", "lastSeen", "chats"],
        "properties": {
            "user": {"type": "object", "properties": {"id": INTEGER, "type": USER_TYPE}},
            "profile": _nullable(_ref("Profile")), "lastSeen": TIME,
            "chats": {"type": "array", "items": _ref("Chat")},
        },
    },
}


def _ok(data: Schema, **extra: Schema) -> Schema:
    return {
        "type": "object", "required": ["statusCode", "error", "message", "data"],
        "properties": {"statusCode": INTEGER, "error": {"const": False},
                       "message": _nullable(STRING), "data": data, **extra},
    }


def _responses(ok: dict[int, Schema], *errors: int) -> Schema:
    out: Schema = {
        str(code): {"description": "the envelope",
                    "content": {"application/json": {"schema": schema}}}
        for code, schema in ok.items()
    }
    for code in (*errors, 500, 503):
        out[str(code)] = {"description": "an error envelope",
                          "content": {"application/json": {"schema": _ref("Error")}}}
    return out


def _body(properties: Schema, required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


USER_PARAMS = [
    {"name": "user_type", "in": "path", "required": True,
     "schema": {"type": "string", "enum": ["customer", "vendor", "CUSTOMER", "VENDOR"]}},
    {"name": "user_id", "in": "path", "required": True,
     "schema": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1}},
]
CHAT_PARAM = [{"name": "chat_id", "in": "path", "required": True, "schema": STRING}]
PRODUCT_PARAM = [{"name": "product_id", "in": "path", "required": True,
                  "schema": {"type": "string", "minLength": 1, "maxLength": 128}}]
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
]
SERVER: list[Schema] = [{"apiKey": []}]
UPLOAD_BODY: Schema = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}}
MEDIA_PARAMS = [
    {"name": "attachment_id", "in": "path", "required": True, "schema": STRING},
    {"name": "u", "in": "query", "required": True,
     "schema": {"type": "string", "description": "the viewer the URL is signed for"}},
    {"name": "exp", "in": "query", "required": True, "schema": INTEGER},
    {"name": "sig", "in": "query", "required": True, "schema": STRING},
]
_ERROR_ANSWER = {"description": "an error envelope",
                 "content": {"application/json": {"schema": _ref("Error")}}}
MEDIA_RESPONSES: Schema = {
    "200": {"description": "the bytes, as stored (re-encoded images, checked PDFs)",
            "content": {mime: {"schema": {"type": "string", "format": "binary"}}
                        for mime in ("image/jpeg", "image/png", "image/webp",
                                     "application/pdf")}},
    **{str(code): _ERROR_ANSWER for code in (403, 404, 500, 503)},
}
COMMON = (400, 401, 404, 413)


def _op(summary: str, responses: Schema, params: list[Schema] | None = None,
        body: Schema | None = None, security: list[Schema] | None = None) -> Schema:
    op: Schema = {"summary": summary, "responses": responses,
                  "security": SERVER if security is None else security}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


# Display URLs: https (and on CHAT_ALLOWED_MEDIA_HOSTS when the operator set them).
HTTPS_URL = {"type": "string", "maxLength": 2048,
             "pattern": r"^https://[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(/[A-Za-z0-9._~/-]*)?$"}
PROFILE_BODY = _body({"name": _nullable({"type": "string", "maxLength": 2048}),
                      "avatarUrl": _nullable(HTTPS_URL)})
MESSAGE_BODY = _body({
    "text": _nullable({"type": "string", "maxLength": 5000}),
    "messageImages": _nullable({"type": "array", "items": HTTPS_URL, "maxItems": 10}),
    "clientMessageId": _nullable({"type": "string", "minLength": 1, "maxLength": 64}),
    "senderType": _nullable({"type": "string", "enum": ["SYSTEM", "CUSTOMER", "VENDOR"]}),
    # Uploads of the sending user (CUSTOMER or VENDOR messages only).
    "attachments": _nullable({"type": "array", "maxItems": 10,
                              "items": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}),
})
CHAT_BODY = _body({"customerId": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
                   "vendorId": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
                   "productId": {"type": "string", "minLength": 1, "maxLength": 128}},
                  ["customerId", "vendorId", "productId"])
USER_CHATS = _ok({"type": "array", "items": _ref("Chat")},
                 nextCursor=_nullable(STRING), totalUnread=INTEGER)

PATHS: dict[str, Schema] = {
    "/api/v1/users/{user_type}/{user_id}": {
        "put": _op("Set a user's trusted profile", _responses({200: _ok(_ref("Profile"))},
                                                             *COMMON), USER_PARAMS, PROFILE_BODY),
        "get": _op("A user's trusted profile", _responses({200: _ok(_ref("Profile"))}, *COMMON),
                   USER_PARAMS),
        "delete": _op("Erase a user", _responses({200: _ok(_ref("Erased"))}, *COMMON),
                      USER_PARAMS),
    },
    "/api/v1/users/{user_type}/{user_id}/chats": {
        "get": _op("A user's chats, as userChats gives them", _responses({200: USER_CHATS},
                                                                         *COMMON),
                   [*USER_PARAMS, *PAGE_PARAMS, {"name": "before", "in": "query",
                                                 "schema": STRING}]),
    },
    "/api/v1/users/{user_type}/{user_id}/unread": {
        "get": _op("A user's unread messages", _responses({200: _ok(_ref("Unread"))}, *COMMON),
                   USER_PARAMS),
    },
    "/api/v1/users/{user_type}/{user_id}/export": {
        "get": _op("Everything stored about a user", _responses({200: _ok(_ref("UserExport"))},
                                                                *COMMON), USER_PARAMS),
    },
    "/api/v1/products/{product_id}": {
        "put": _op("Set a product's trusted display data",
                   _responses({200: _ok(_ref("Product"))}, *COMMON), PRODUCT_PARAM,
                   _body({"name": _nullable({"type": "string", "maxLength": 2048}),
                          "price": PRICE,
                          "imageUrl": _nullable(HTTPS_URL)})),
        "get": _op("A product's trusted display data", _responses({200: _ok(_ref("Product"))},
                                                                  *COMMON), PRODUCT_PARAM),
    },
    "/api/v1/chats": {
        "post": _op("Open the chat of a product, customer and vendor (idempotent)",
                    _responses({200: _ok(_ref("Chat")), 201: _ok(_ref("Chat"))}, *COMMON),
                    body=CHAT_BODY),
    },
    "/api/v1/chats/{chat_id}": {
        "get": _op("A chat with its latest 20 messages", _responses({200: _ok(_ref("Chat"))},
                                                                    *COMMON), CHAT_PARAM),
    },
    "/api/v1/chats/{chat_id}/messages": {
        "get": _op("Older messages of a chat", _responses({200: _ok(_ref("MessagePage"))},
                                                          *COMMON),
                   [*CHAT_PARAM, *PAGE_PARAMS, {"name": "before", "in": "query", "schema": {
                       "type": "integer", "minimum": 1, "maximum": 2**53 - 1}}]),
        "post": _op("Post a system message, or one on a participant's behalf",
                    _responses({200: _ok(_ref("Message")), 201: _ok(_ref("Message"))},
                               *COMMON), CHAT_PARAM, MESSAGE_BODY),
    },
    "/api/v1/me/uploads": {
        "post": _op("Upload an image or a PDF to send in a message (docs/attachments.md)",
                    _responses({201: _ok(_ref("Attachment"))}, 400, 401, 408, 413, 415, 429),
                    body=UPLOAD_BODY, security=[{"userToken": []}]),
    },
    "/media/{attachment_id}": {
        "get": _op("An attachment, by a signed URL from a message or an upload",
                   MEDIA_RESPONSES, MEDIA_PARAMS, security=[]),
    },
    "/media/{attachment_id}/thumb": {
        "get": _op("An image attachment's thumbnail, by a signed URL", MEDIA_RESPONSES,
                   MEDIA_PARAMS, security=[]),
    },
    "/api/v1/me/unread": {
        "get": _op("The caller's unread messages", _responses({200: _ok(_ref("Unread"))}, 401),
                   security=[{"userToken": []}]),
    },
}

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {"title": "chat-server HTTP API", "version": __version__,
             "description": "The server API for the marketplace's backend and the user API "
                            "(docs/server-api.md). Every answer is the envelope "
                            "{statusCode, error, message, data}."},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer",
                       "description": "one of CHAT_API_KEYS"},
            "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                          "description": "the user's JWT, as at the Socket.IO handshake"},
        },
    },
}


def openapi_route() -> Route:
    body = orjson.dumps(DOCUMENT)

    async def document(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route("/api/v1/openapi.json", document, methods=["GET"])
