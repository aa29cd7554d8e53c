"""What a webhook looks like on the wire (SERVER_API.md section 5): the body, the headers and
the signature. Pure functions: the dispatcher sends exactly this, and the tests check the
verification snippets of docs/webhooks.md against it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from chat_server.application.outbox import OutboxItem

# The webhook types of SERVER_API.md section 5, each documented in docs/webhooks.md.
WEBHOOK_TYPES = (
    "chat.created", "message.created", "message.unread", "message.read", "message.deleted",
    "user.reported",
)
SIGNATURE_VERSION = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Chat-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
    ``"<t>.<raw body>"`` under ``secret`` (UTF-8). The timestamp is part of what is signed,
    so a receiver that refuses old timestamps refuses replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},{SIGNATURE_VERSION}={mac.hexdigest()}"


def iso(at: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as every time in PROTOCOL.md."""
    if at.utcoffset():
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def webhook_body(item: OutboxItem) -> bytes:
    """``{"id", "type", "createdAt", "data"}`` as compact UTF-8 JSON; the same bytes on every
    attempt. Raises ``ValueError`` / ``TypeError`` for data that is not JSON (NaN, a
    datetime ...): a bug of whoever made the item, which no retry can fix."""
    document = {"id": item.id, "type": item.kind, "createdAt": iso(item.created_at),
                "data": item.data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def webhook_headers(item: OutboxItem, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The four headers of SERVER_API.md; ``timestamp`` is the attempt's time (unix seconds),
    so each attempt carries a fresh signature over the same body."""
    return {
        "Content-Type": "application/json",
        "X-Chat-Event": item.kind,
        "X-Chat-Delivery": item.id,
        "X-Chat-Signature": sign(secret, timestamp, body),
    }
