"""The ports of the application: what the use cases need from the outside world.

Adapters conform structurally (``typing.Protocol``) and are checked by mypy. Every
contract below holds for every adapter; ``tests/integration/test_repository_contract.py``
runs one suite on all of them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from chat_server.domain.directory import Product, Profile
from chat_server.domain.model import Chat, ChatKey, Message, ProductSnapshot, UserRef, UserType
from chat_server.domain.reports import Report


@attrs.frozen
class ChatCursor:
    """Position in a user's chat list, ordered by (last_message_at, id) descending."""

    last_message_at: datetime
    chat_id: str


class ChatRepository(Protocol):
    """Chats, each unique on its ChatKey. Every write is one atomic step."""

    async def get(self, chat_id: str) -> Chat | None:
        """The chat with this id; ``None`` for an unknown or malformed id."""

    async def find(self, key: ChatKey) -> Chat | None: ...

    async def open(self, chat: Chat) -> tuple[Chat, bool]:
        """Store ``chat`` unless one with its key exists.

        Returns the stored chat and whether this call created it. Atomic: of several
        concurrent calls with one key, exactly one creates, the others get that chat.
        """

    async def allocate_seq(self, chat_id: str) -> int:
        """Apply ``Chat.with_seq_allocated`` atomically; returns the seq handed out.

        Unique per chat and increasing in the order of the calls; the seq stays pending
        until ``apply_message``. Raises ``ChatNotFound`` for an unknown chat.
        """

    async def apply_message(
        self, chat_id: str, sender: UserType | None, seq: int, message_id: str, at: datetime,
        snapshot: ProductSnapshot | None,
    ) -> Chat:
        """Apply ``Chat.with_message`` atomically and return the chat after it.

        Idempotent: applying a seq again (a retry finishing an interrupted send) changes
        nothing. Raises ``ChatNotFound`` for an unknown chat.
        """

    async def mark_read(self, chat_id: str, reader: UserType) -> tuple[Chat, Chat]:
        """Apply ``Chat.read_by`` atomically; returns the chat before and after it."""

    async def forget_message(
        self, chat_id: str, message: Message, replacement: Message | None
    ) -> Chat:
        """Apply ``Chat.without_message`` atomically (a message deleted); returns the chat
        after it."""

    async def page_for(
        self, user: UserRef, limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        """The user's chats, most recent ``last_message_at`` first (ties by id), after the cursor."""

    async def sees_presence_of(self, viewer: UserRef, subject: UserRef) -> bool:
        """Whether ``viewer`` may see ``subject``'s presence and last seen.

        Vendors are public-facing, customers are not: a vendor's presence is seen by every
        customer who shares a chat with them; a customer's only by the vendors they wrote
        to (sent a message in a chat with), so that an unsolicited message earns nothing.
        """

    async def set_blocking(
        self, customer_id: int, vendor_id: int, blocker: UserType, on: bool
    ) -> list[Chat]:
        """Set whether ``blocker``'s side blocks the other in every chat of the pair;
        returns those chats after it."""

    async def blocking_between(self, customer_id: int, vendor_id: int) -> tuple[bool, bool]:
        """(customer blocks vendor, vendor blocks customer), as the pair's chats hold it."""

    async def claim_unread_notice(
        self, chat_id: str, side: UserType, read_seq: int, token: str
    ) -> bool:
        """Whether an unread notice to ``side`` may go out now: at most one per chat and
        side until that side reads again (its ``read_seq`` moves). ``True`` when this call
        claimed it, or ``token`` (the job's id) claimed it before (a job evaluated again)."""

    async def about_product(self, product_id: str, limit: int) -> list[Chat]:
        """Up to ``limit`` chats about the product, most recent first."""

    async def erase_side(self, user: UserRef) -> int:
        """Empty the user's display fields (``directory.side_fields``) in every chat of
        theirs; returns how many chats they have."""

    async def presence_audience(self, subject: UserRef, limit: int) -> list[UserRef]:
        """The distinct users who see ``subject``'s presence (``sees_presence_of``), at
        most ``limit``."""


class MessageRepository(Protocol):
    """Messages; unique on (chat_id, seq) and on (sender, client_message_id) when given."""

    async def add(self, message: Message) -> None:
        """Store a new message.

        Raises ``DuplicateClientMessageId`` when the sender already stored a message with
        this ``client_message_id``; then nothing is stored.
        """

    async def get(self, message_id: str) -> Message | None: ...

    async def by_client_id(self, owner: str, client_message_id: str) -> Message | None:
        """The message whose ``dedup_owner`` and ``client_message_id`` these are."""

    async def by_ids(self, message_ids: Sequence[str]) -> list[Message]:
        """The stored messages among ``message_ids``, each once (any order, deleted ones
        included)."""

    async def history(self, chat_id: str, before_seq: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages of the chat with seq < ``before_seq``, newest first.

        Deleted messages are skipped. The cost depends on ``limit``, not on the history
        (the caller passes ``Chat.history_end`` for the latest page).
        """

    async def export_page(
        self, chat_id: str, after_seq: int, up_to_seq: int, limit: int
    ) -> list[Message]:
        """Up to ``limit`` messages with ``after_seq`` < seq <= ``up_to_seq``, oldest
        first, deleted ones included: export and erasure walk a whole history with it,
        page by page, each page costing what it returns."""

    async def mark_read(
        self, chat_id: str, recipient: UserType, up_to_seq: int, at: datetime, limit: int
    ) -> list[str]:
        """Mark read the unread messages addressed to ``recipient`` (the side) with seq <=
        ``up_to_seq``; ``read_at`` is set where it is not (a system message, addressed to
        both sides, keeps the time it was first read).

        Returns the ids of at most ``limit`` of the messages it marked (the oldest).
        """

    async def edit(self, message_id: str, text: str | None, masked: bool, at: datetime
                   ) -> Message | None:
        """Replace a message's text (``edited_at`` = ``updated_at`` = ``at``); returns it
        after, or ``None`` when it does not exist or was deleted."""

    async def erase(self, message_id: str, at: datetime) -> Message | None:
        """Delete a message: erase its text and images. Returns the message as it was,
        or ``None`` when it does not exist or was already deleted (atomic: of two
        concurrent calls, one wins)."""

    async def undelivered(self, recipient: UserRef, limit: int) -> list[Message]:
        """Messages addressed to ``recipient`` still ``awaiting_delivery``, oldest first,
        not deleted."""

    async def mark_delivered(
        self, recipient: UserRef, message_ids: Sequence[str], at: datetime
    ) -> None:
        """The messages no longer await delivery to ``recipient`` (a system message awaits
        each participant); ``delivered_at`` becomes ``at`` for those that had none (one
        emitted before keeps its first time)."""


class Channel(enum.Enum):
    """The two kinds of connection a user holds: presence, and chat."""

    PRESENCE = "presence"
    CHAT = "chat"


@attrs.frozen
class ExpiredConnection:
    """A connection of another server node that stopped renewing it (the node died)."""

    user: UserRef
    connection_id: str
    channel: Channel


class PresenceRegistry(Protocol):
    """Which users hold open connections, counted per connection (several devices), on
    every server node. ``add`` returns ``True`` and ``remove`` returns ``True`` exactly once
    per period in which the user is connected, whichever node sees the change."""

    async def add(self, user: UserRef, connection_id: str, channel: Channel) -> bool:
        """Count a connection; ``True`` when it is the user's first on that channel (0 -> 1)."""

    async def remove(self, user: UserRef, connection_id: str, channel: Channel) -> bool:
        """Forget a connection; ``True`` when it was the user's last on that channel (1 -> 0)."""

    async def is_connected(self, user: UserRef, channel: Channel) -> bool:
        """Whether the user holds a connection on the channel, on any node."""

    async def holds_locally(self, user: UserRef, channel: Channel) -> bool:
        """Whether this node holds a connection of the user on the channel: what it emits
        to the user reaches a live connection (no network, no other node involved)."""

    async def count(self, user: UserRef, channel: Channel) -> int:
        """How many connections the user holds on the channel, on every node."""

    async def announce(self, user: UserRef, online: bool) -> bool:
        """Record that the user's counterparts were told they are ``online`` (or not);
        ``True`` when this changed what was recorded (a compare-and-set, one winner among
        nodes). Starts as not online."""

    async def wait_connected(self, user: UserRef, channel: Channel, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the user to hold a connection on the channel."""

    async def expired(self, limit: int) -> list[ExpiredConnection]:
        """Up to ``limit`` connections held by nodes that stopped renewing them; each is
        then to be passed to ``remove`` (empty with a single node)."""


class ReportRepository(Protocol):
    """Reports of users by users (durable)."""

    async def add(self, report: Report) -> None: ...

    async def by_reporter(self, reporter: UserRef, limit: int) -> list[Report]:
        """The reporter's latest reports, newest first."""


class ProfileRepository(Protocol):
    """Trusted profiles, one per user (durable)."""

    async def put(self, profile: Profile) -> None: ...

    async def get(self, user: UserRef) -> Profile | None: ...

    async def get_many(self, users: Sequence[UserRef]) -> dict[UserRef, Profile]:
        """The profiles among ``users``, in one lookup whatever their number."""

    async def delete(self, user: UserRef) -> None: ...


class ProductRepository(Protocol):
    """Trusted products, one per product id (durable)."""

    async def put(self, product: Product) -> None: ...

    async def get(self, product_id: str) -> Product | None: ...

    async def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The products among ``product_ids``, in one lookup whatever their number."""


@attrs.frozen
class UnreadTotals:
    total: int  # unread messages addressed to the user, in all their chats
    chats: int  # chats with at least one


class UnreadCounters(Protocol):
    """Per user, a copy of each chat's unread count for them, and the totals: an unread
    badge without reading the user's chats."""

    async def record(self, user: UserRef, chat_id: str, unread: int, revision: int) -> None:
        """Keep ``unread`` as the user's count for the chat, unless a copy of a later
        ``revision`` of the chat is kept already: idempotent and independent of the order
        of concurrent calls. Atomic with the totals."""

    async def totals(self, user: UserRef) -> UnreadTotals: ...

    async def forget(self, user: UserRef) -> None:
        """Drop everything kept for the user (erasure)."""


class LastSeenRepository(Protocol):
    """When each user was last online (durable)."""

    async def set(self, user: UserRef, at: datetime) -> None: ...

    async def get(self, user: UserRef) -> datetime | None: ...

    async def forget(self, user: UserRef) -> None: ...


class RateKind(enum.Enum):
    REQUEST = "request"  # every received event, and every namespace CONNECT
    SEND = "send"  # sendMessage, whatever its outcome
    NEW_CHAT = "new_chat"  # a send that opens a chat
    CONNECT = "connect"  # a namespace CONNECT
    UPLOAD = "upload"  # POST /api/v1/me/uploads, whatever its outcome
    REPORT = "report"  # reportUser

    __hash__ = object.__hash__  # as UserType's: the members are compared by identity


class RateLimiter(Protocol):
    """Per-user token buckets, shared by all of a user's connections."""

    async def acquire(self, user: UserRef, kind: RateKind) -> bool:
        """Take one token; ``False`` when the bucket is empty (or ``True`` when disabled)."""

    async def acquire_each(self, user: UserRef, kinds: tuple[RateKind, ...]) -> RateKind | None:
        """``acquire`` of each kind in turn, in one step (one round trip when shared):
        stops at the first empty bucket and returns its kind (the tokens taken before it
        stay taken, as with separate calls); None when every one gave its token."""

    async def charge(self, user: UserRef, kind: RateKind, tokens: int) -> None:
        """Take ``tokens`` more, whatever is left: what an answer cost beyond its first
        token. The bucket may go below empty (down to minus its burst), so that later
        requests wait until it refilled."""


class TypingThrottle(Protocol):
    async def allow(self, user: UserRef, chat_id: str) -> bool:
        """``True`` at most once per interval for one user and chat."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, UTC, truncated to milliseconds (what storage keeps)."""


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A new 24-hex id (an ObjectId in MongoDB): its first 8 digits are the time in
        seconds, the rest 64 random bits, so no id can be guessed from another."""


class HealthProbe(Protocol):
    async def ready(self) -> bool:
        """``True`` when the backends the service needs answer."""


@attrs.frozen
class RateLimit:
    """A token bucket: holds ``burst`` tokens, refills ``per_second``."""

    per_second: float
    burst: int
