"""The wire format of PROTOCOL.md: envelopes, Chat and Message objects, in camelCase."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from chat_server.application.events import ReadReceipt
from chat_server.domain.media import Attachment
from chat_server.domain.model import Chat, Message, UserRef, UserType

Envelope = dict[str, Any]

WIRE_FIELD_NAMES = {
    "product_id": "productId",
    "recipient_id": "recipientId",
    "client_message_id": "clientMessageId",
    "images": "messageImages",
    "product_name": "productName",
    "product_image_url": "productImageUrl",
    "product_price": "productPrice",
    "store_name": "storeName",
    "store_logo_url": "storeLogoUrl",
    "customer_name": "customerName",
    "customer_profile_pic": "customerProfilePic",
    "message_id": "messageId",
    "chat_id": "chatId",
    "avatar_url": "avatarUrl",
    "image_url": "imageUrl",
}


class _LastTime:
    """The last time formatted: a new message's created, updated and delivered times are
    one datetime object (immutable, so caching by identity is exact)."""

    at: datetime | None = None
    text: str = ""


def iso(at: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z``."""
    if at is None:
        return None
    if at is _LastTime.at:
        return _LastTime.text
    # isoformat is C code; strftime-style formatting cost 9% of the message path's CPU.
    utc = at.astimezone(UTC) if at.utcoffset() else at
    text = utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    _LastTime.at, _LastTime.text = at, text
    return text


def envelope(message: str | None, data: Any, status: int = 200, **extra: Any) -> Envelope:
    body = {"statusCode": status, "error": False, "message": message, "data": data}
    body.update(extra)
    return body


def error_envelope(
    status: int, message: str, event: str, errors: list[dict[str, str]] | None = None
) -> Envelope:
    data: dict[str, Any] = {"event": event}
    if errors is not None:
        data["errors"] = errors
    return {"statusCode": status, "error": True, "message": message, "data": data}


def user_type(user: UserRef) -> str:
    return _TYPE_NAMES[user.type]  # CUSTOMER / VENDOR


# An Enum's ``name`` is a Python-level property: looked up once here.
_TYPE_NAMES = {kind: kind.name for kind in UserType}


SYSTEM = "SYSTEM"


class MediaLinks(Protocol):
    """Signed media URLs for a viewer (``entrypoints/http/media_urls.MediaUrls``)."""

    def to_wire(self, attachment: Attachment, viewer: UserRef) -> dict[str, Any]: ...


# Set once the service started (``ChatApp.startup``): where attachments' URLs come from.
_media: list[MediaLinks | None] = [None]


def use_media_links(links: MediaLinks | None) -> None:
    _media[0] = links


def _attachments(m: Message, viewer: UserRef | None) -> list[dict[str, Any]]:
    links = _media[0]
    if not m.attachments or links is None:
        return []
    # URLs are signed for who receives the object: without a viewer, the recipient.
    who = viewer or m.recipient or (m.system_audience[0] if m.system_audience else m.sender)
    assert who is not None
    return [links.to_wire(a, who) for a in m.attachments]


def message_json(m: Message, viewer: UserRef | None = None) -> dict[str, Any]:
    """A message as ``viewer`` sees it (only its attachments' URLs depend on the viewer)."""
    created = iso(m.created_at)
    attachments = _attachments(m, viewer)
    images = list(m.images)
    # Image attachments are listed in messageImages too, for clients of the event doc.
    images += [a["url"] for a in attachments if a["kind"] == "image"]
    return {
        "id": m.id,
        "messageId": m.id,  # the event doc's name for it (its clients delete by it)
        "chatId": m.chat_id,
        "seq": m.seq,
        "senderId": m.sender.id if m.sender else None,
        "senderType": _TYPE_NAMES[m.sender.type] if m.sender else SYSTEM,
        "recipientId": m.recipient.id if m.recipient else None,
        "recipientType": _TYPE_NAMES[m.recipient.type] if m.recipient else None,
        "text": m.text,
        "messageImages": images,
        "attachments": attachments,
        "read": m.read_at is not None,
        "readAt": iso(m.read_at),
        "recipientOnline": m.recipient_online,
        "deliveredAt": iso(m.delivered_at),
        "clientMessageId": m.client_message_id,
        "editedAt": iso(m.edited_at),
        "masked": m.masked,
        "timestamp": created,
        "createdAt": created,
        "updatedAt": iso(m.updated_at),
    }


def chat_json(chat: Chat, viewer: UserRef, messages: list[Message]) -> dict[str, Any]:
    """A chat as ``viewer`` sees it (``unreadCount`` is theirs)."""
    s = chat.snapshot
    return {
        "id": chat.id,
        "productId": chat.product_id,
        "customerId": chat.customer_id,
        "vendorId": chat.vendor_id,
        "productName": s.product_name,
        "productImageUrl": s.product_image_url,
        "productPrice": s.product_price,
        "storeName": s.store_name,
        "storeLogoUrl": s.store_logo_url,
        "customerName": s.customer_name,
        "customerProfilePic": s.customer_profile_pic,
        "createdAt": iso(chat.created_at),
        "updatedAt": iso(chat.updated_at),
        "lastMessageAt": iso(chat.last_message_at),
        "unreadCount": chat.unread_for(viewer),
        "blocked": chat.blocks(viewer),
        "blockedBy": chat.blocked_for(viewer),
        "messages": [message_json(m, viewer) for m in messages],
    }


class _LastEnvelope:
    """The envelope built for the message asked last: a send's presenter (its ack) and the
    notifier (its emit) ask for the same message, and sharing the object lets the packet
    encoder encode it once (``encoding.EncodedBodies``). Messages are immutable; one with
    attachments is not kept, its URLs being signed for each viewer."""

    message: Message | None = None
    body: Envelope = {}


def message_received(message: Message, viewer: UserRef | None = None) -> Envelope:
    if message.attachments:
        return envelope("New message received", message_json(message, viewer))
    if message is _LastEnvelope.message:
        return _LastEnvelope.body
    body = envelope("New message received", message_json(message))
    _LastEnvelope.message, _LastEnvelope.body = message, body
    return body


def chat_opened(chat: Chat, message: Message | None, viewer: UserRef) -> Envelope:
    return envelope("New chat created", chat_json(chat, viewer, [message] if message else []))


def message_edited(message: Message, viewer: UserRef | None = None) -> Envelope:
    return envelope("Message has been edited", message_json(message, viewer))


def chat_updated(chat: Chat, viewer: UserRef) -> Envelope:
    return envelope("Chat has been updated", chat_json(chat, viewer, []))


def read_receipt(receipt: ReadReceipt) -> Envelope:
    return envelope(
        "Messages marked as read",
        {
            "chatId": receipt.chat_id,
            "readerId": receipt.reader.id,
            "readerType": user_type(receipt.reader),
            "readAt": iso(receipt.read_at),
            "messageIds": list(receipt.message_ids),
            "readUpToSeq": receipt.read_up_to_seq,
        },
    )


def message_deleted(chat_id: str, message_id: str) -> Envelope:
    return envelope(
        "Message has been deleted successfully", {"chatId": chat_id, "messageId": message_id}
    )


def typing(chat_id: str, user: UserRef, active: bool) -> Envelope:
    return envelope(
        "User is typing" if active else "User has stopped typing",
        {"chatId": chat_id, "userId": user.id, "userType": user_type(user)},
    )


def presence(user: UserRef, online: bool, last_seen: datetime | None) -> Envelope:
    return envelope(
        "User is online" if online else "User is offline",
        {"userId": user.id, "userType": user_type(user), "status": online,
         "lastSeen": None if online else iso(last_seen)},
    )


def user_online(user: UserRef) -> Envelope:
    return envelope("User is online", {"userId": user.id, "userType": user_type(user)})


def user_offline(user: UserRef, last_seen: datetime | None) -> Envelope:
    return envelope(
        "User has gone offline",
        {"userId": user.id, "userType": user_type(user), "lastSeen": iso(last_seen)},
    )


def room(user: UserRef) -> str:
    """Every socket of a user joins this room in its namespace: ``customer:12``, which is
    also what ``str(user)`` writes."""
    return str(user)


_USER_TYPES = {t.value: t for t in UserType}


def user_of_room(name: str) -> UserRef | None:
    """The user whose room ``name`` is (``room``'s inverse), else None (a socket's sid)."""
    kind, sep, user_id = name.partition(":")
    user_type = _USER_TYPES.get(kind)
    if not sep or user_type is None or not (user_id.isascii() and user_id.isdigit()):
        return None
    return UserRef(user_type, int(user_id))
