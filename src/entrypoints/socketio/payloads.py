"""Parsing client payloads into commands: JSON types and presence of fields only.

Business limits (text length, URLs ...) are the domain's; a field of the wrong type is
answered here with a 400 naming the field. Fields an event does not define are ignored,
and an optional field set to ``null`` counts as absent.
"""

from __future__ import annotations

import math
from typing import Any

from chat_server.application.use_cases import (
    Caller,
    ChatRef,
    CheckOnlinePresence,
    DeleteMessage,
    GetMessages,
    GetUserChats,
    JoinChat,
    MarkAsRead,
    SendMessage,
    SignalTyping,
)
from chat_server.application.use_cases.blocking import ReportUser, SetBlock
from chat_server.application.use_cases.editing import EditMessage
from chat_server.domain.model import MAX_ID, ProductSnapshot, UserRef, UserType
from chat_server.entrypoints.socketio.cursor import BadCursor, decode_cursor


class PayloadError(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


SNAPSHOT_KEYS = frozenset({"productName", "productImageUrl", "productPrice", "storeName",
                           "storeLogoUrl", "customerName", "customerProfilePic"})


class Fields:
    """Reads typed fields from one payload, collecting every error before raising."""

    def __init__(self, data: Any, optional_payload: bool = False) -> None:
        self.errors: list[dict[str, str]] = []
        if data is None and optional_payload:
            data = {}
        if not isinstance(data, dict):
            self.errors.append({"field": "payload", "message": "must be a JSON object"})
            data = {}
        self._data: dict[str, Any] = data

    def has_any(self, names: frozenset[str]) -> bool:
        """Whether the payload names any of these fields (null counts as absent)."""
        return any(self._data.get(name) is not None for name in names & self._data.keys())

    def _fail(self, name: str, message: str) -> None:
        self.errors.append({"field": name, "message": message})

    def _get(self, name: str, required: bool) -> Any:
        value = self._data.get(name)
        if value is None and required:
            self._fail(name, "is required")
        return value

    def string(self, name: str, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self._fail(name, "must be a string")
            return None
        return value

    def identifier(self, name: str, required: bool = False) -> int | None:
        """A user id or seq: a JSON integer from 1 to 2^53-1 (not a string, float or bool)."""
        value = self._get(name, required)
        if value is None:
            return None
        if type(value) is not int or not 1 <= value <= MAX_ID:
            self._fail(name, f"must be an integer from 1 to {MAX_ID}")
            return None
        return value

    def bounded(self, name: str, low: int, high: int, default: int) -> int:
        value = self._get(name, False)
        if value is None:
            return default
        if type(value) is not int or not low <= value <= high:
            self._fail(name, f"must be an integer from {low} to {high}")
            return default
        return value

    def string_list(self, name: str) -> list[str] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._fail(name, "must be a list of strings")
            return None
        return value

    def price(self, name: str) -> str | int | float | None:
        value = self._get(name, False)
        if value is None:
            return None
        valid_number = isinstance(value, int | float) and not isinstance(value, bool) and (
            math.isfinite(value) and abs(value) <= MAX_ID
        )
        if not (isinstance(value, str) or valid_number):
            self._fail(name, "must be a string or a number")
            return None
        return value  # type: ignore[no-any-return]

    def user_type(self, name: str, required: bool = False) -> UserType | None:
        value = self._get(name, required)
        if value is None:
            return None
        parsed = UserType.parse(value)
        if parsed is None:
            self._fail(name, "must be customer or vendor")
        return parsed

    def chat_ref(self, chat_id_alias: str | None = None) -> ChatRef:
        """How the payload names a chat; naming none at all is a 400 (PROTOCOL.md 10)."""
        chat_id = self.string("chatId")
        if chat_id is None and chat_id_alias is not None:
            chat_id = self.string(chat_id_alias)
        ref = ChatRef(chat_id, self.string("productId"), self.identifier("recipientId"))
        named = [n for n in ("chatId", chat_id_alias, "productId", "recipientId")
                 if n is not None and self._data.get(n) is not None]
        if not named and not self.errors:
            self._fail("chatId", "is required (or productId and recipientId)")
            if chat_id_alias is None:
                self._fail("productId", "is required with recipientId when there is no chatId")
                self._fail("recipientId", "is required with productId when there is no chatId")
        return ref

    def done(self) -> None:
        if self.errors:
            raise PayloadError(self.errors)


def parse_join_chat(caller: Caller, data: Any) -> JoinChat:
    f = Fields(data)
    ref = f.chat_ref(chat_id_alias="chatIds")
    f.done()
    return JoinChat(caller, ref)


def parse_send_message(caller: Caller, data: Any) -> SendMessage:
    f = Fields(data)
    ref = f.chat_ref()
    text = f.string("text")
    images = f.string_list("messageImages")
    attachments = f.string_list("attachments")
    client_message_id = f.string("clientMessageId")
    snapshot = None
    if f.has_any(SNAPSHOT_KEYS):  # most sends carry none: no snapshot built and tested
        snapshot = ProductSnapshot(
            product_name=f.string("productName"),
            product_image_url=f.string("productImageUrl"),
            product_price=f.price("productPrice"),
            store_name=f.string("storeName"),
            store_logo_url=f.string("storeLogoUrl"),
            customer_name=f.string("customerName"),
            customer_profile_pic=f.string("customerProfilePic"),
        )
    f.done()
    return SendMessage(
        caller, ref, text=text, images=images, client_message_id=client_message_id,
        snapshot=None if snapshot is None or snapshot.is_empty() else snapshot,
        attachment_ids=tuple(attachments or ()),
    )


def parse_mark_as_read(caller: Caller, data: Any) -> MarkAsRead:
    f = Fields(data)
    ref = f.chat_ref()
    f.done()
    return MarkAsRead(caller, ref)


def parse_delete_message(caller: Caller, data: Any) -> DeleteMessage:
    f = Fields(data)
    ref = f.chat_ref()
    message_id = f.string("messageId", required=True)
    f.done()
    assert message_id is not None
    return DeleteMessage(caller, ref, message_id)


def parse_typing(caller: Caller, data: Any, typing: bool) -> SignalTyping:
    f = Fields(data)
    ref = f.chat_ref()
    f.done()
    return SignalTyping(caller, ref, typing)


def parse_get_user_chats(caller: Caller, data: Any) -> GetUserChats:
    f = Fields(data, optional_payload=True)
    limit = f.bounded("limit", 1, 100, 20)
    before = f.string("before")
    after = None
    if before is not None:
        try:
            after = decode_cursor(before)
        except BadCursor:
            f.errors.append({"field": "before", "message": "is not a cursor given by this server"})
    f.done()
    return GetUserChats(caller, limit, after)


def parse_get_messages(caller: Caller, data: Any) -> GetMessages:
    f = Fields(data)
    ref = f.chat_ref()
    before = f.identifier("before")
    limit = f.bounded("limit", 1, 100, 50)
    f.done()
    return GetMessages(caller, ref, before, limit)


def parse_edit_message(caller: Caller, data: Any) -> EditMessage:
    f = Fields(data)
    ref = f.chat_ref()
    message_id = f.string("messageId", required=True)
    text = f.string("text", required=True)
    f.done()
    assert message_id is not None and text is not None
    return EditMessage(caller, ref, message_id, text)


def _user_of(f: Fields) -> UserRef | None:
    user_id = f.identifier("userId", required=True)
    user_type = f.user_type("userType", required=True)
    return None if user_id is None or user_type is None else UserRef(user_type, user_id)


def parse_block(caller: Caller, data: Any, blocked: bool) -> SetBlock:
    f = Fields(data)
    other = _user_of(f)
    f.done()
    assert other is not None
    return SetBlock(caller, other, blocked)


def parse_report_user(caller: Caller, data: Any) -> ReportUser:
    f = Fields(data)
    reported = _user_of(f)
    chat_id = f.string("chatId")
    reason = f.string("reason", required=True)
    f.done()
    assert reported is not None and reason is not None
    return ReportUser(caller, reported, reason, chat_id)


def parse_check_online_presence(caller: Caller, data: Any) -> CheckOnlinePresence:
    f = Fields(data)
    user_id = f.identifier("userId", required=True)
    user_type = f.user_type("userType", required=True)
    f.done()
    assert user_id is not None and user_type is not None
    return CheckOnlinePresence(caller, UserRef(user_type, user_id))


