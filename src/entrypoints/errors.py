"""Domain errors as status codes and messages: one table for every driving adapter
(Socket.IO events, the HTTP API), each adding only its own transport's errors."""

from __future__ import annotations

from collections.abc import Mapping

from chat_server.domain.errors import (
    BlockedByCounterpart,
    ChatNotFound,
    EditWindowPassed,
    InvalidInput,
    MessageNotFound,
    NoSharedChat,
    NotAChatParticipant,
    NotTheSender,
    NotYourMessage,
    ProductNotFound,
    RateLimitExceeded,
    StorageUnavailable,
    UserNotFound,
    UserNotOnline,
)
from chat_server.entrypoints.socketio.wire import WIRE_FIELD_NAMES

INVALID = (400, "Invalid data provided")
STORAGE_DOWN = (503, "Storage is unavailable, please retry shortly")
INTERNAL_ERROR = (500, "An internal error occurred")

DOMAIN_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    InvalidInput: INVALID,
    NotAChatParticipant: (403, "You are not a participant of this chat"),
    NotTheSender: (403, "You can only delete your own messages"),
    NotYourMessage: (403, "You can only edit your own messages"),
    EditWindowPassed: (403, "This message can no longer be edited"),
    BlockedByCounterpart: (403, "You cannot message this user"),
    NoSharedChat: (403, "You do not share a chat with this user"),
    UserNotOnline: (403, "User is not online. Connect to the /presence namespace first"),
    ChatNotFound: (404, "Chat was not found"),
    MessageNotFound: (404, "Message was not found"),
    UserNotFound: (404, "User was not found"),
    ProductNotFound: (404, "Product was not found"),
    RateLimitExceeded: (429, "Too many requests"),
    StorageUnavailable: STORAGE_DOWN,
}


def lookup(table: Mapping[type[Exception], tuple[int, str]], exc: Exception
           ) -> tuple[int, str]:
    return next((v for k, v in table.items() if isinstance(exc, k)), INTERNAL_ERROR)


def domain_field_errors(exc: InvalidInput) -> list[dict[str, str]]:
    """The fields named as clients name them (camelCase)."""
    return [{"field": WIRE_FIELD_NAMES.get(e.field, e.field), "message": e.message}
            for e in exc.errors]
