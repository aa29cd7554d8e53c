"""One class per use case. Each is called with a frozen command and enforces the business
rules listed in its docstring; storage always comes before any notification."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

import attrs

from chat_server.application.notifications import (
    ChatOpened,
    MessageDeleted,
    MessageStored,
    PresenceChanged,
    ReadReceipt,
    TypingChanged,
)
from chat_server.application.ports import (
    Channel,
    ChatCursor,
    ChatRepository,
    Clock,
    IdGenerator,
    LastSeenRepository,
    MessageRepository,
    Notifier,
    PresenceRegistry,
    TypingThrottle,
)
from chat_server.domain.errors import (
    ChatNotFound,
    DuplicateClientMessageId,
    FieldError,
    InvalidInput,
    MessageNotFound,
    NoSharedChat,
    NotTheSender,
    UserNotOnline,
)
from chat_server.domain.model import (
    Chat,
    ChatKey,
    Message,
    MessageContent,
    ProductSnapshot,
    UserRef,
    validate_client_message_id,
    validate_product_id,
)

LOAD_MESSAGES_LIMIT = 20
OFFLINE_MESSAGES_LIMIT = 500
# A read receipt lists at most this many newly read ids; ``read_up_to_seq`` covers all.
RECEIPT_IDS_LIMIT = 1000
# userIsOnline / userIsOffline reach at most this many counterparts of a user.
PRESENCE_WATCHERS_LIMIT = 10_000


@attrs.frozen
class Caller:
    """Who asks, from which connection, and whether that connection takes the outcome from
    an ack (then broadcasts skip it, so it learns the outcome exactly once)."""

    user: UserRef
    connection_id: str
    acked: bool = False

    @property
    def skip(self) -> str | None:
        return self.connection_id if self.acked else None


@attrs.frozen
class ChatRef:
    """How a client names a chat: by id, or by product and counterpart."""

    chat_id: str | None = None
    product_id: str | None = None
    recipient_id: int | None = None


@attrs.frozen
class ChatWithMessages:
    chat: Chat
    messages: list[Message]  # oldest first


class ChatFinder:
    """The one rule that finds the chat an event names.

    - A known ``chat_id`` names the chat; the caller must take part in it (403), and a
      ``product_id`` / ``recipient_id`` given beside it must be the chat's (400).
    - An unknown or absent ``chat_id`` with ``product_id`` and ``recipient_id`` looks the
      chat up by them (event-doc clients make up chat ids).
    - Otherwise there is no chat (404).
    """

    def __init__(self, chats: ChatRepository) -> None:
        self._chats = chats

    async def find(self, user: UserRef, ref: ChatRef) -> Chat | None:
        if ref.chat_id is not None:
            chat = await self._chats.get(ref.chat_id)
            if chat is not None:
                chat.ensure_participant(user)
                errors = []
                if ref.product_id is not None and ref.product_id != chat.product_id:
                    errors.append(FieldError("product_id", "does not match the chat"))
                if ref.recipient_id is not None and ref.recipient_id != chat.counterpart(user).id:
                    errors.append(FieldError("recipient_id", "does not match the chat"))
                if errors:
                    raise InvalidInput(errors)
                return chat
        key = self.key_of(user, ref)
        return None if key is None else await self._chats.find(key)

    async def get(self, user: UserRef, ref: ChatRef) -> Chat:
        chat = await self.find(user, ref)
        if chat is None:
            raise ChatNotFound(ref.chat_id)
        return chat

    @staticmethod
    def key_of(user: UserRef, ref: ChatRef) -> ChatKey | None:
        if ref.product_id is None or ref.recipient_id is None:
            return None
        errors = validate_product_id(ref.product_id)
        if errors:
            raise InvalidInput(errors)
        return ChatKey.between(user, ref.recipient_id, ref.product_id)


async def forget_message(
    chats: ChatRepository, messages: MessageRepository, chat: Chat, message: Message
) -> None:
    """Undo what a message did to its chat's counters and last-message pointer."""
    replacement = None
    if chat.last_message_id == message.id:
        latest = await messages.history(chat.id, before_seq=message.seq, limit=1)
        replacement = latest[0].id if latest else None
    await chats.forget_message(chat.id, message, replacement)


# --- sending -------------------------------------------------------------------------


@attrs.frozen
class SendMessage:
    caller: Caller
    ref: ChatRef
    text: str | None = None
    images: list[str] | None = None
    client_message_id: str | None = None
    snapshot: ProductSnapshot | None = None


@attrs.frozen
class SentMessage:
    chat: Chat
    message: Message
    opened_chat: bool
    # A repeat of an earlier send with the same client_message_id: nothing was stored
    # or broadcast this time.
    replayed: bool = False


class SendMessageHandler:
    """Store a message and deliver it to both participants.

    - The content is valid (text and/or images, limits of the protocol).
    - The first message of a (product, customer, vendor) triple creates its chat, once,
      even when two first messages arrive at the same time.
    - ``client_message_id`` makes the send idempotent per sender: a repeat stores nothing,
      broadcasts nothing and answers as the first send did.
    - ``seq`` is allocated by the chat, atomically; the message counts as delivered when
      the recipient holds a /chat connection as it is stored.
    - Only stored messages are announced, after they are stored.
    """

    def __init__(
        self, chats: ChatRepository, messages: MessageRepository, presence: PresenceRegistry,
        notifier: Notifier, clock: Clock, ids: IdGenerator,
    ) -> None:
        self._chats = chats
        self._messages = messages
        self._presence = presence
        self._notifier = notifier
        self._clock = clock
        self._ids = ids
        self._finder = ChatFinder(chats)

    async def __call__(self, cmd: SendMessage) -> SentMessage:
        user = cmd.caller.user
        content = self._validate(cmd)
        if cmd.client_message_id is not None:
            earlier = await self._messages.by_client_id(user, cmd.client_message_id)
            if earlier is not None:
                return await self._replay(earlier)

        chat = await self._finder.find(user, cmd.ref)
        opened = False
        if chat is None:
            key = ChatFinder.key_of(user, cmd.ref)
            if key is None:
                raise ChatNotFound(cmd.ref.chat_id)
            new_chat = Chat.open(
                self._ids.new_id(), key, ProductSnapshot().merged(cmd.snapshot), self._clock.now()
            )
            chat, opened = await self._chats.open(new_chat)

        recipient = chat.counterpart(user)
        online = await self._presence.is_connected(recipient, Channel.CHAT)
        now = self._clock.now()
        message_id = self._ids.new_id()
        chat = await self._chats.record_message(
            chat.id, user.type, message_id, now, None if opened else cmd.snapshot
        )
        message = Message(
            id=message_id, chat_id=chat.id, seq=chat.last_seq, sender=user, recipient=recipient,
            text=content.text, images=content.images, created_at=now, updated_at=now,
            delivered_at=now if online else None, recipient_online=online,
            client_message_id=cmd.client_message_id, opened_chat=opened,
        )
        try:
            await self._messages.add(message)
        except DuplicateClientMessageId:
            # A concurrent repeat of this send won the race: give back the seq we took.
            await forget_message(self._chats, self._messages, chat, message)
            assert cmd.client_message_id is not None
            earlier = await self._messages.by_client_id(user, cmd.client_message_id)
            if earlier is None:  # pragma: no cover - the winner is stored before it raises
                raise
            return await self._replay(earlier)

        notification = ChatOpened(chat, message) if opened else MessageStored(chat, message)
        await self._notifier.publish(notification, skip_connection=cmd.caller.skip)
        return SentMessage(chat, message, opened)

    @staticmethod
    def _validate(cmd: SendMessage) -> MessageContent:
        errors = validate_client_message_id(cmd.client_message_id)
        if cmd.ref.product_id is not None:
            errors += validate_product_id(cmd.ref.product_id)
        if cmd.snapshot is not None:
            errors += cmd.snapshot.validate()
        try:
            content = MessageContent.create(cmd.text, cmd.images)
        except InvalidInput as exc:
            errors = exc.errors + errors
        if errors:
            raise InvalidInput(errors)
        return content

    async def _replay(self, earlier: Message) -> SentMessage:
        chat = await self._chats.get(earlier.chat_id)
        if chat is None:  # pragma: no cover - chats are never deleted
            raise ChatNotFound(earlier.chat_id)
        return SentMessage(chat, earlier, earlier.opened_chat, replayed=True)


# --- reading ---------------------------------------------------------------------------


@attrs.frozen
class ReadOutcome:
    chat: Chat  # after marking
    receipt: ReadReceipt


class ReadMarker:
    """Marks everything addressed to a user in a chat as read and says so to both."""

    def __init__(
        self, chats: ChatRepository, messages: MessageRepository, notifier: Notifier,
        clock: Clock,
    ) -> None:
        self._chats = chats
        self._messages = messages
        self._notifier = notifier
        self._clock = clock

    async def mark(self, caller: Caller, chat: Chat, skip: str | None) -> ReadOutcome:
        reader = caller.user
        before, after = await self._chats.mark_read(chat.id, reader.type)
        up_to = after.read_seq_of(reader.type)
        if up_to <= before.read_seq_of(reader.type) and before.unread_for(reader) == 0:
            receipt = ReadReceipt(chat.id, reader, None, [], up_to, chat.participants)
            return ReadOutcome(after, receipt)
        now = self._clock.now()
        ids = await self._messages.mark_read(chat.id, reader.type, up_to, now, RECEIPT_IDS_LIMIT)
        receipt = ReadReceipt(chat.id, reader, now, ids, up_to, chat.participants)
        await self._notifier.publish(receipt, skip_connection=skip)
        return ReadOutcome(after, receipt)


@attrs.frozen
class JoinChat:
    caller: Caller
    ref: ChatRef


class JoinChatHandler:
    """Open a chat: mark it read for the caller and return it with its latest messages.

    - Only a participant may join (403); an unknown chat is a 404.
    - When anything was marked read, both participants (every device, the caller's too:
      its ack carries the chat, not the receipt) get the read receipt.
    """

    def __init__(self, chats: ChatRepository, messages: MessageRepository, marker: ReadMarker):
        self._finder = ChatFinder(chats)
        self._messages = messages
        self._marker = marker

    async def __call__(self, cmd: JoinChat) -> ChatWithMessages:
        chat = await self._finder.get(cmd.caller.user, cmd.ref)
        outcome = await self._marker.mark(cmd.caller, chat, skip=None)
        latest = await self._messages.history(chat.id, None, LOAD_MESSAGES_LIMIT)
        latest.reverse()
        return ChatWithMessages(outcome.chat, latest)


@attrs.frozen
class MarkAsRead:
    caller: Caller
    ref: ChatRef


class MarkAsReadHandler:
    """Mark every message addressed to the caller in a chat as read.

    - Participants only; the receipt goes to both (the caller's socket takes it from the
      ack when it asked for one). With nothing unread nothing is broadcast.
    """

    def __init__(self, chats: ChatRepository, marker: ReadMarker):
        self._finder = ChatFinder(chats)
        self._marker = marker

    async def __call__(self, cmd: MarkAsRead) -> ReadReceipt:
        chat = await self._finder.get(cmd.caller.user, cmd.ref)
        outcome = await self._marker.mark(cmd.caller, chat, skip=cmd.caller.skip)
        return outcome.receipt


# --- deleting, typing --------------------------------------------------------------------


@attrs.frozen
class DeleteMessage:
    caller: Caller
    ref: ChatRef
    message_id: str


class DeleteMessageHandler:
    """Delete a message.

    - Only its sender may (403); a message of another chat, unknown or already deleted is
      a 404. Its text and images are erased from storage; it no longer counts as unread
      nor as the chat's last message.
    """

    def __init__(
        self, chats: ChatRepository, messages: MessageRepository, notifier: Notifier,
        clock: Clock,
    ) -> None:
        self._chats = chats
        self._messages = messages
        self._notifier = notifier
        self._clock = clock
        self._finder = ChatFinder(chats)

    async def __call__(self, cmd: DeleteMessage) -> MessageDeleted:
        user = cmd.caller.user
        chat = await self._finder.get(user, cmd.ref)
        message = await self._messages.get(cmd.message_id)
        if message is None or message.chat_id != chat.id or message.deleted:
            raise MessageNotFound(cmd.message_id)
        if message.sender != user:
            raise NotTheSender(cmd.message_id)
        erased = await self._messages.erase(message.id, self._clock.now())
        if erased is None:
            raise MessageNotFound(cmd.message_id)
        await forget_message(self._chats, self._messages, chat, erased)
        deleted = MessageDeleted(chat.id, message.id, chat.participants)
        await self._notifier.publish(deleted, skip_connection=cmd.caller.skip)
        return deleted


@attrs.frozen
class SignalTyping:
    caller: Caller
    ref: ChatRef
    typing: bool


class SignalTypingHandler:
    """Tell the other participant that the caller types or stopped typing.

    - Participants only. ``typing`` is relayed at most once per throttle interval per
      user and chat; ``stopped`` always. Never stored.
    """

    def __init__(self, chats: ChatRepository, throttle: TypingThrottle, notifier: Notifier):
        self._finder = ChatFinder(chats)
        self._throttle = throttle
        self._notifier = notifier

    async def __call__(self, cmd: SignalTyping) -> TypingChanged:
        user = cmd.caller.user
        chat = await self._finder.get(user, cmd.ref)
        signal = TypingChanged(chat.id, user, chat.counterpart(user), cmd.typing)
        if not cmd.typing or await self._throttle.allow(user, chat.id):
            await self._notifier.publish(signal)
        return signal


# --- listing -----------------------------------------------------------------------------


def encode_cursor(chat: Chat) -> str:
    ms = int(chat.last_message_at.timestamp() * 1000)
    raw = json.dumps([ms, chat.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> ChatCursor:
    invalid = InvalidInput([FieldError("before", "is not a cursor given by this server")])
    if len(value) > 200:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        ms, chat_id = json.loads(raw)
        at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (binascii.Error, ValueError, TypeError, OverflowError, OSError) as exc:
        raise invalid from exc
    if type(ms) is not int or not isinstance(chat_id, str):
        raise invalid
    return ChatCursor(at, chat_id)


@attrs.frozen
class GetUserChats:
    user: UserRef
    limit: int = 20
    before: str | None = None


@attrs.frozen
class ChatPage:
    chats: list[ChatWithMessages]  # each with its latest message
    next_cursor: str | None


class GetUserChatsHandler:
    """A page of the user's chats, most recent first, each with its latest message.

    A constant number of storage queries per page, whatever the number of chats.
    """

    def __init__(self, chats: ChatRepository, messages: MessageRepository):
        self._chats = chats
        self._messages = messages

    async def __call__(self, query: GetUserChats) -> ChatPage:
        after = decode_cursor(query.before) if query.before is not None else None
        chats = await self._chats.page_for(query.user, query.limit + 1, after)
        has_more = len(chats) > query.limit
        chats = chats[: query.limit]
        wanted = [c.last_message_id for c in chats if c.last_message_id is not None]
        by_id = {m.id: m for m in await self._messages.by_ids(wanted)}
        items = []
        for chat in chats:
            last = by_id.get(chat.last_message_id or "")
            if last is not None and last.deleted:
                last = None
            if last is None and chat.last_message_id is not None:
                # The pointer runs ahead of a send still being stored: show the latest stored.
                latest = await self._messages.history(chat.id, None, 1)
                last = latest[0] if latest else None
            items.append(ChatWithMessages(chat, [last] if last is not None else []))
        next_cursor = encode_cursor(chats[-1]) if has_more and chats else None
        return ChatPage(items, next_cursor)


@attrs.frozen
class GetMessages:
    caller: Caller
    ref: ChatRef
    before_seq: int | None = None
    limit: int = 50


@attrs.frozen
class MessagePage:
    chat_id: str
    messages: list[Message]  # oldest first
    has_more: bool


class GetMessagesHandler:
    """Older history of one chat, for participants only, paged by seq."""

    def __init__(self, chats: ChatRepository, messages: MessageRepository):
        self._finder = ChatFinder(chats)
        self._messages = messages

    async def __call__(self, query: GetMessages) -> MessagePage:
        chat = await self._finder.get(query.caller.user, query.ref)
        found = await self._messages.history(chat.id, query.before_seq, query.limit + 1)
        page = found[: query.limit]
        page.reverse()
        return MessagePage(chat.id, page, has_more=len(found) > query.limit)


# --- presence ----------------------------------------------------------------------------


@attrs.frozen
class PresenceStatus:
    user: UserRef
    online: bool
    last_seen: datetime | None


@attrs.frozen
class CheckOnlinePresence:
    caller: Caller
    about: UserRef


class CheckOnlinePresenceHandler:
    """Whether a user is online; only about a user who shares a chat with the caller."""

    def __init__(
        self, chats: ChatRepository, presence: PresenceRegistry, last_seen: LastSeenRepository
    ) -> None:
        self._chats = chats
        self._presence = presence
        self._last_seen = last_seen

    async def __call__(self, query: CheckOnlinePresence) -> PresenceStatus:
        if not await self._chats.shares_chat(query.caller.user, query.about):
            raise NoSharedChat(str(query.about))
        online = await self._presence.is_connected(query.about, Channel.PRESENCE)
        last_seen = None if online else await self._last_seen.get(query.about)
        return PresenceStatus(query.about, online, last_seen)


class PresenceTracker:
    """A user is online while any of their /presence connections is open.

    - The first connection (0 -> 1) announces ``online`` to every user who shares a chat;
      the last one closing (1 -> 0) stores ``last_seen`` and announces ``offline``.
    - Several tabs and devices count separately.
    """

    def __init__(
        self, chats: ChatRepository, presence: PresenceRegistry, last_seen: LastSeenRepository,
        notifier: Notifier, clock: Clock,
    ) -> None:
        self._chats = chats
        self._presence = presence
        self._last_seen = last_seen
        self._notifier = notifier
        self._clock = clock

    async def connect(self, user: UserRef, connection_id: str) -> None:
        if await self._presence.add(user, connection_id, Channel.PRESENCE):
            watchers = await self._chats.counterparts(user, PRESENCE_WATCHERS_LIMIT)
            if watchers:
                await self._notifier.publish(PresenceChanged(user, True, None, watchers))

    async def disconnect(self, user: UserRef, connection_id: str) -> None:
        if not await self._presence.remove(user, connection_id, Channel.PRESENCE):
            return
        now = self._clock.now()
        await self._last_seen.set(user, now)
        if await self._presence.is_connected(user, Channel.PRESENCE):
            return  # came back while we stored last_seen: stay online for the others
        watchers = await self._chats.counterparts(user, PRESENCE_WATCHERS_LIMIT)
        if watchers:
            await self._notifier.publish(PresenceChanged(user, False, now, watchers))

    async def reap(self, limit: int = 1000) -> int:
        """Close the connections of server nodes that died: their users go offline (and
        their counterparts learn it) unless connected elsewhere. Returns how many."""
        expired = await self._presence.expired(limit)
        for gone in expired:
            if gone.channel is Channel.PRESENCE:
                await self.disconnect(gone.user, gone.connection_id)
            else:
                await self._presence.remove(gone.user, gone.connection_id, gone.channel)
        return len(expired)


# --- the /chat session -------------------------------------------------------------------


@attrs.frozen
class ChatSession:
    offline_messages: list[Message]
    more_offline: bool
    chats: ChatPage


class ChatSessions:
    """A /chat connection of a user.

    - It needs the user online in /presence; the check waits for a presence connection
      opened at the same time, up to the grace period.
    - Once accepted it counts for ``recipient_online`` and delivery; it receives the
      messages stored while the user had no /chat connection (oldest first, at most
      ``OFFLINE_MESSAGES_LIMIT``), each then marked delivered, and the first page of chats.
    """

    def __init__(
        self, messages: MessageRepository, presence: PresenceRegistry, clock: Clock,
        user_chats: GetUserChatsHandler, grace_seconds: float,
    ) -> None:
        self._messages = messages
        self._presence = presence
        self._clock = clock
        self._user_chats = user_chats
        self._grace = grace_seconds

    async def await_presence(self, user: UserRef) -> None:
        if not await self._presence.wait_connected(user, Channel.PRESENCE, self._grace):
            raise UserNotOnline(str(user))

    async def open(self, user: UserRef, connection_id: str) -> ChatSession:
        await self._presence.add(user, connection_id, Channel.CHAT)
        pending = await self._messages.undelivered(user, OFFLINE_MESSAGES_LIMIT + 1)
        more = len(pending) > OFFLINE_MESSAGES_LIMIT
        pending = pending[:OFFLINE_MESSAGES_LIMIT]
        if pending:
            now = self._clock.now()
            await self._messages.mark_delivered([m.id for m in pending], now)
            pending = [attrs.evolve(m, delivered_at=now) for m in pending]
        chats = await self._user_chats(GetUserChats(user))
        return ChatSession(pending, more, chats)

    async def close(self, user: UserRef, connection_id: str) -> None:
        await self._presence.remove(user, connection_id, Channel.CHAT)
