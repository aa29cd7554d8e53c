"""Entities of the chat domain and the rules that hold between them.

A chat joins exactly one customer and one vendor about one product. Its messages are
numbered by ``seq`` (1, 2, 3 ...). Read state is a per-side watermark on the chat: every
message addressed to a participant with ``seq <= read_seq`` of that participant is read,
so marking a chat read never depends on the length of its history.

The state changes of a chat are written here as pure functions (``with_message``,
``read_by``, ``without_message``); storage adapters apply them atomically, the in-memory
adapter by calling them, the MongoDB adapter by mirroring them in update operators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from chat_server.domain.content import (
    MAX_CLIENT_MESSAGE_ID_CHARS,
    MAX_DISPLAY_CHARS,
    MAX_IMAGES,
    MAX_PRODUCT_ID_CHARS,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    PRODUCT_FIELDS,
    SIDE_FIELDS,
    MessageContent,
    ProductPrice,
    ProductSnapshot,
    UrlPolicy,
    validate_client_message_id,
    validate_product_id,
)
from chat_server.domain.errors import (
    BlockedByCounterpart,
    EditWindowPassed,
    NotAChatParticipant,
    NotYourMessage,
)
from chat_server.domain.media import Attachment
from chat_server.domain.users import MAX_ID, UserRef, UserType, is_valid_user_id

__all__ = [
    "MAX_CLIENT_MESSAGE_ID_CHARS", "MAX_DISPLAY_CHARS", "MAX_ID", "MAX_IMAGES",
    "MAX_PRODUCT_ID_CHARS", "MAX_TEXT_CHARS", "MAX_URL_CHARS", "PENDING_SEQS_WINDOW",
    "PRODUCT_FIELDS", "SIDE_FIELDS", "Chat", "ChatKey", "Message", "MessageContent",
    "ProductPrice", "ProductSnapshot", "UrlPolicy", "UserRef", "UserType", "dedup_owner",
    "is_valid_user_id", "sides_addressed", "validate_client_message_id",
    "validate_product_id",
]


@attrs.frozen
class ChatKey:
    """What makes a chat unique: one per product x customer x vendor."""

    product_id: str
    customer_id: int
    vendor_id: int

    @classmethod
    def between(cls, user: UserRef, counterpart_id: int, product_id: str) -> ChatKey:
        """The counterpart is always of the other type: a customer writes to a vendor."""
        if user.type is UserType.CUSTOMER:
            return cls(product_id, customer_id=user.id, vendor_id=counterpart_id)
        return cls(product_id, customer_id=counterpart_id, vendor_id=user.id)


@attrs.frozen
class Message:
    """A message of a chat. A system message (from the marketplace's backend: "your order
    has shipped") has no sender and no recipient: it is addressed to both participants,
    named in ``system_audience``."""

    id: str
    chat_id: str
    seq: int
    sender: UserRef | None
    recipient: UserRef | None
    text: str | None
    images: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None = None
    # When it was first emitted to a recipient's /chat connection (what the wire shows).
    delivered_at: datetime | None = None
    # True until a live node wrote it to a connection of the recipient (or the recipient's
    # next connect took it with its offline messages): such messages are offered again.
    awaiting_delivery: bool = True
    recipient_online: bool = False
    client_message_id: str | None = None
    # True for the message whose send created the chat: a repeated send answers as
    # the first one did (newSentChat rather than receiveMessage).
    opened_chat: bool = False
    deleted: bool = False
    system_audience: tuple[UserRef, ...] = ()
    edited_at: datetime | None = None
    # Contact details in the text were replaced by [hidden] (the contact-detail filter).
    masked: bool = False
    # Uploads sent with it (their metadata, kept with the message: no lookup to show it).
    attachments: tuple[Attachment, ...] = ()

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @property
    def is_system(self) -> bool:
        return self.sender is None

    def ensure_editable_by(self, user: UserRef, now: datetime, window_s: float) -> None:
        """Only its sender edits it, within ``window_s`` of when it was sent."""
        if self.sender != user:
            raise NotYourMessage(self.id)
        if (now - self.created_at).total_seconds() > window_s:
            raise EditWindowPassed(self.id)

    @property
    def sender_side(self) -> UserType | None:
        """The side that sent it; ``None`` for a system message."""
        return None if self.sender is None else self.sender.type

    @property
    def recipients(self) -> tuple[UserRef, ...]:
        """Who it is addressed to: the recipient, or both participants."""
        return self.system_audience if self.recipient is None else (self.recipient,)

    @property
    def dedup_owner(self) -> str:
        """Whose ``client_message_id`` it is: the sender's, or the chat's for the system."""
        return dedup_owner(self.sender, self.chat_id)

    def erased(self, at: datetime) -> Message:
        """Deleting keeps the row (seq stays taken) but erases what it said."""
        return attrs.evolve(self, text=None, images=(), deleted=True, updated_at=at,
                            awaiting_delivery=False, attachments=())


def dedup_owner(sender: UserRef | None, chat_id: str) -> str:
    """A client message id is unique per sender; the system's are unique per chat."""
    return str(sender) if sender is not None else f"system:{chat_id}"


def sides_addressed(sender: UserType | None) -> tuple[UserType, ...]:
    """The sides a message of ``sender`` is addressed to (both for the system)."""
    return (UserType.CUSTOMER, UserType.VENDOR) if sender is None else (sender.other,)


# A chat remembers the seqs it handed out but whose message is not yet applied to its
# counters (``pending_seqs``): applying a message is then idempotent and independent of the
# order in which concurrent sends finish. Seqs older than this many are forgotten (a send
# that never finished leaves a harmless gap).
PENDING_SEQS_WINDOW = 1000


@attrs.frozen
class Chat:
    id: str
    product_id: str
    customer_id: int
    vendor_id: int
    snapshot: ProductSnapshot
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    last_seq: int = 0
    # Highest seq sent by each side: what the other side reads up to.
    customer_sent_seq: int = 0
    vendor_sent_seq: int = 0
    # Read watermarks: every message addressed to that side with seq <= this is read.
    customer_read_seq: int = 0
    vendor_read_seq: int = 0
    # Unread messages addressed to each side (deleted ones excluded).
    customer_unread: int = 0
    vendor_unread: int = 0
    last_message_id: str | None = None
    last_message_seq: int = 0
    pending_seqs: tuple[int, ...] = ()
    # Highest seq of a system message: addressed to both sides.
    system_sent_seq: int = 0
    # Bumped by every change of the counters: orders copies of them (per-user unread).
    revision: int = 0
    # Blocking is between the two users (all their chats): one flag per direction.
    customer_blocks_vendor: bool = False
    vendor_blocks_customer: bool = False

    @property
    def key(self) -> ChatKey:
        return ChatKey(self.product_id, self.customer_id, self.vendor_id)

    @property
    def customer(self) -> UserRef:
        return UserRef(UserType.CUSTOMER, self.customer_id)

    @property
    def vendor(self) -> UserRef:
        return UserRef(UserType.VENDOR, self.vendor_id)

    @property
    def participants(self) -> tuple[UserRef, UserRef]:
        return self.customer, self.vendor

    def is_participant(self, user: UserRef) -> bool:
        if user.type is UserType.CUSTOMER:
            return user.id == self.customer_id
        return user.id == self.vendor_id

    def ensure_participant(self, user: UserRef) -> None:
        if not self.is_participant(user):
            raise NotAChatParticipant(self.id)

    def blocks(self, user: UserRef) -> bool:
        """Whether ``user`` blocks the other participant."""
        if user.type is UserType.CUSTOMER:
            return self.customer_blocks_vendor
        return self.vendor_blocks_customer

    def blocked_for(self, user: UserRef) -> bool:
        """Whether the other participant blocks ``user``."""
        return self.blocks(self.counterpart(user))

    def ensure_may_write(self, user: UserRef) -> None:
        """A user blocked by the other participant sends, types and edits nothing here."""
        if self.blocked_for(user):
            raise BlockedByCounterpart(self.id)

    def counterpart(self, user: UserRef) -> UserRef:
        return self.vendor if user.type is UserType.CUSTOMER else self.customer

    def unread_for(self, user: UserRef) -> int:
        return self.unread_for_side(user.type)

    def unread_for_side(self, side: UserType) -> int:
        return self.customer_unread if side is UserType.CUSTOMER else self.vendor_unread

    def read_seq_of(self, side: UserType) -> int:
        return self.customer_read_seq if side is UserType.CUSTOMER else self.vendor_read_seq

    def sent_seq_of(self, side: UserType) -> int:
        return self.customer_sent_seq if side is UserType.CUSTOMER else self.vendor_sent_seq

    def addressed_up_to(self, side: UserType) -> int:
        """The highest seq addressed to ``side``: the last one the other side or the
        system sent."""
        return max(self.sent_seq_of(side.other), self.system_sent_seq)

    @property
    def history_end(self) -> int:
        """A seq above every stored message: where reading the history backwards starts."""
        return self.last_seq + 1

    @classmethod
    def open(
        cls, chat_id: str, key: ChatKey, snapshot: ProductSnapshot, at: datetime,
        blocking: tuple[bool, bool] = (False, False),
    ) -> Chat:
        """A new chat; ``blocking`` (customer blocks vendor, vendor blocks customer) comes
        from the pair's other chats: a block holds for all of them."""
        return cls(
            id=chat_id,
            product_id=key.product_id,
            customer_id=key.customer_id,
            vendor_id=key.vendor_id,
            snapshot=snapshot,
            created_at=at,
            updated_at=at,
            last_message_at=at,
            customer_blocks_vendor=blocking[0],
            vendor_blocks_customer=blocking[1],
        )

    def _evolve(self, changes: dict[str, Any]) -> Chat:
        """``attrs.evolve`` for the two copies every send makes, at about half its cost
        (it walks the class's fields and builds keywords); the same constructor runs."""
        return Chat(*[changes[name] if name in changes else getattr(self, name)
                      for name in _CHAT_FIELDS])

    def with_seq_allocated(self) -> Chat:
        """The chat after handing out seq ``last_seq + 1`` to a message about to be stored."""
        seq = self.last_seq + 1
        floor = seq - PENDING_SEQS_WINDOW
        pending = (*(s for s in self.pending_seqs if s > floor), seq)
        return self._evolve({"last_seq": seq, "pending_seqs": pending})

    def with_message(
        self,
        sender: UserType | None,
        seq: int,
        message_id: str,
        at: datetime,
        snapshot: ProductSnapshot | None = None,
    ) -> Chat:
        """The chat after the stored message ``seq`` of ``sender`` (``None``: the system)
        was applied to it.

        Idempotent: a seq that is not pending (applied already, or forgotten) changes
        nothing. Concurrent sends may apply out of seq order; every field is then a maximum
        or counted once, so the result does not depend on the order.
        """
        if seq not in self.pending_seqs:
            return self
        changes: dict[str, Any] = {
            "pending_seqs": tuple(s for s in self.pending_seqs if s != seq),
            "updated_at": max(at, self.updated_at),
            "snapshot": self.snapshot.merged(snapshot),
            "revision": self.revision + 1,
        }
        if sender is None:
            changes["system_sent_seq"] = max(seq, self.system_sent_seq)
        else:
            changes[_SENT_SEQ[sender]] = max(seq, self.sent_seq_of(sender))
        for side in sides_addressed(sender):
            if seq > self.read_seq_of(side):
                changes[_UNREAD[side]] = self.unread_for_side(side) + 1
        if seq > self.last_message_seq:
            changes.update(last_message_id=message_id, last_message_seq=seq, last_message_at=at)
        return self._evolve(changes)

    def read_by(self, reader: UserType) -> Chat:
        """Everything addressed to ``reader`` so far is read."""
        if (self.read_seq_of(reader) == self.addressed_up_to(reader)
                and self.unread_for_side(reader) == 0):
            return self
        changes: dict[str, Any] = {
            f"{reader.value}_read_seq": self.addressed_up_to(reader),
            f"{reader.value}_unread": 0,
            "revision": self.revision + 1,
        }
        return attrs.evolve(self, **changes)

    def without_message(self, message: Message, replacement: Message | None) -> Chat:
        """The chat after ``message`` was deleted.

        A message not applied yet is only forgotten (it never counted); otherwise an unread
        one no longer counts as unread. When it was the last message, ``replacement`` (the
        latest remaining one, if any) takes its place.
        """
        if message.seq in self.pending_seqs:
            pending = tuple(s for s in self.pending_seqs if s != message.seq)
            return attrs.evolve(self, pending_seqs=pending)
        changes: dict[str, Any] = {"revision": self.revision + 1}
        for side in sides_addressed(message.sender_side):
            if message.seq > self.read_seq_of(side):
                field = f"{side.value}_unread"
                changes[field] = max(0, getattr(self, field) - 1)
        if self.last_message_id == message.id:
            changes["last_message_id"] = replacement.id if replacement else None
            changes["last_message_seq"] = replacement.seq if replacement else 0
        return attrs.evolve(self, **changes)


_CHAT_FIELDS = tuple(field.name for field in attrs.fields(Chat))
# Each side's fields by name, for the copies a send makes (an Enum's ``value`` is a
# Python-level property).
_SENT_SEQ = {side: f"{side.value}_sent_seq" for side in UserType}
_UNREAD = {side: f"{side.value}_unread" for side in UserType}
