"""The opaque ``before`` cursor of ``getUserChats``: a position in a user's chat list."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

import orjson

from chat_server.application.ports import ChatCursor

MAX_CURSOR_CHARS = 200


class BadCursor(ValueError):
    """Not a cursor this server handed out."""


def encode_cursor(cursor: ChatCursor) -> str:
    ms = int(cursor.last_message_at.timestamp() * 1000)
    raw = orjson.dumps([ms, cursor.chat_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> ChatCursor:
    if len(value) > MAX_CURSOR_CHARS:
        raise BadCursor(value[:20])
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        ms, chat_id = orjson.loads(raw)
        at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (binascii.Error, ValueError, TypeError, OverflowError, OSError) as exc:
        raise BadCursor(value[:20]) from exc
    if type(ms) is not int or not isinstance(chat_id, str):
        raise BadCursor(value[:20])
    return ChatCursor(at, chat_id)
