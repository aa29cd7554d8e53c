"""Sending a message: the first one of a (product, customer, vendor) triple opens the chat."""

from __future__ import annotations

import contextlib

import attrs

from chat_server.application.events import (
    ChatOpened,
    Event,
    MessageStored,
    Outcome,
    SendReplayed,
)
from chat_server.application.media import AttachmentRepository
from chat_server.application.ports import (
    Channel,
    ChatRepository,
    Clock,
    IdGenerator,
    MessageRepository,
    PresenceRegistry,
    RateKind,
    RateLimiter,
    UnreadCounters,
)
from chat_server.application.use_cases.common import Caller, ChatFinder, ChatRef
from chat_server.application.use_cases.display import TrustedDisplay, record_unread
from chat_server.domain.contact_filter import ContactFilter, FilterMode
from chat_server.domain.errors import (
    BlockedByCounterpart,
    ChatNotFound,
    DuplicateClientMessageId,
    FieldError,
    InvalidInput,
    RateLimitExceeded,
)
from chat_server.domain.media import Attachment, validate_attachment_ids
from chat_server.domain.model import (
    Chat,
    Message,
    MessageContent,
    ProductSnapshot,
    UrlPolicy,
    UserType,
    validate_client_message_id,
    validate_product_id,
)


@attrs.frozen
class SendMessage:
    caller: Caller
    ref: ChatRef
    text: str | None = None
    images: list[str] | None = None
    client_message_id: str | None = None
    snapshot: ProductSnapshot | None = None
    attachment_ids: tuple[str, ...] = ()


@attrs.frozen
class FilteredContent:
    text: str | None
    images: tuple[str, ...]
    masked: bool  # contact details were replaced by [hidden]


@attrs.frozen
class SentMessage:
    chat: Chat
    message: Message
    opened_chat: bool


class SendMessageHandler:
    """Store a message and announce it to both participants.

    - The content is valid (text and/or images, limits of the protocol).
    - The first message of a (product, customer, vendor) triple creates its chat, once,
      even when two first messages arrive at the same time.
    - ``client_message_id`` makes the send idempotent per sender: a repeat stores nothing,
      announces nothing and answers as the first send did; it also finishes the work of a
      first send that was interrupted after its message was stored.
    - The chat hands out the ``seq``; the message is stored; then the chat's counters and
      last-message pointer take it into account, once (``apply_message`` is idempotent).
      A failure at any step leaves at most an unused seq behind.
    - ``recipient_online``: the recipient holds a /chat connection (on any node) as the
      message is stored; it is then emitted at once (``delivered_at``). It stays awaiting
      delivery (offered again at the recipient's next connect) unless this node holds a
      recipient connection it is written to; another node that writes it confirms it.
    - Display fields: each side writes only its own (``ProductSnapshot.written_by``), and
      URLs follow the URL policy (https, allowed hosts).
    - A send that opens a chat also takes a token from the sender's new-chat bucket.
    - Nothing is stored in a chat whose other participant blocks the sender (403), nor is
      a new chat opened between them.
    - The contact-detail filter masks (``masked``) or refuses phone numbers, e-mail
      addresses and foreign links in the text.
    """

    def __init__(
        self, *, chats: ChatRepository, messages: MessageRepository,
        presence: PresenceRegistry, clock: Clock, ids: IdGenerator,
        counters: UnreadCounters, display: TrustedDisplay,
        limiter: RateLimiter | None = None, urls: UrlPolicy | None = None,
        contact_filter: ContactFilter | None = None,
        attachments: AttachmentRepository | None = None,
    ) -> None:
        self._attachments = attachments
        self._filter = contact_filter or ContactFilter(FilterMode.OFF, frozenset())
        self._counters = counters
        self._display = display
        self._chats = chats
        self._messages = messages
        self._presence = presence
        self._clock = clock
        self._ids = ids
        self._limiter = limiter
        self._urls = urls or UrlPolicy()
        self._finder = ChatFinder(chats)

    async def __call__(self, cmd: SendMessage) -> Outcome[SentMessage]:
        user = cmd.caller.user
        content = self._validate(cmd)
        refresh = cmd.snapshot.written_by(user.type, opening=False) if cmd.snapshot else None
        if cmd.client_message_id is not None:
            earlier = await self._messages.by_client_id(str(user), cmd.client_message_id)
            if earlier is not None:
                return await self._replay(earlier, refresh)

        chat = await self._finder.find(user, cmd.ref)
        opened = False
        if chat is None:
            key = ChatFinder.key_of(user, cmd.ref)
            if key is None:
                raise ChatNotFound(cmd.ref.chat_id)
            # A block holds for every chat of the pair, new ones too.
            blocking = await self._chats.blocking_between(key.customer_id, key.vendor_id)
            if blocking[1 if user.type is UserType.CUSTOMER else 0]:
                raise BlockedByCounterpart(str(key))
            if self._limiter is not None and not await self._limiter.acquire(
                    user, RateKind.NEW_CHAT):
                raise RateLimitExceeded("new chats")
            first = cmd.snapshot.written_by(user.type, opening=True) if cmd.snapshot else None
            new_chat = Chat.open(
                self._ids.new_id(), key, ProductSnapshot().merged(first), self._clock.now(),
                blocking,
            )
            chat, opened = await self._chats.open(new_chat)
        chat.ensure_may_write(user)

        recipient = chat.counterpart(user)
        # A connection on this node is a live one: the shared count is asked only otherwise.
        local = await self._presence.holds_locally(recipient, Channel.CHAT)
        online = local or await self._presence.is_connected(recipient, Channel.CHAT)
        message_id = self._ids.new_id()
        attached = await self._claim(cmd, message_id)  # before the seq: a refusal costs none
        try:
            seq = await self._chats.allocate_seq(chat.id)
        except BaseException:
            await self._release(cmd, message_id)
            raise
        now = self._clock.now()
        message = Message(
            id=message_id, chat_id=chat.id, seq=seq, sender=user, recipient=recipient,
            text=content.text, images=content.images, created_at=now, updated_at=now,
            masked=content.masked, attachments=attached,
            delivered_at=now if online else None, awaiting_delivery=not local,
            recipient_online=online, client_message_id=cmd.client_message_id,
            opened_chat=opened,
        )
        try:
            await self._messages.add(message)
        except DuplicateClientMessageId:
            # A concurrent repeat of this send won the race; our seq stays unused.
            await self._release(cmd, message_id)
            assert cmd.client_message_id is not None
            earlier = await self._messages.by_client_id(str(user), cmd.client_message_id)
            if earlier is None:  # pragma: no cover - the winner is stored before it raises
                raise
            return await self._replay(earlier, refresh)
        except BaseException:
            await self._release(cmd, message_id)  # the uploads may go in another message
            raise
        chat = await self._apply(message, None if opened else refresh)
        if opened:  # the only send whose answer shows the chat's display fields
            chat = await self._display.show_one(chat)
        event: Event = ChatOpened(chat, message) if opened else MessageStored(chat, message)
        return Outcome(SentMessage(chat, message, opened), (event,))

    async def _claim(self, cmd: SendMessage, message_id: str) -> tuple[Attachment, ...]:
        if not cmd.attachment_ids:
            return ()
        if self._attachments is None:
            raise InvalidInput([FieldError("attachments", "uploads are not enabled")])
        claimed = await self._attachments.claim(cmd.attachment_ids, cmd.caller.user, message_id)
        return tuple(claimed)

    async def _release(self, cmd: SendMessage, message_id: str) -> None:
        if cmd.attachment_ids and self._attachments is not None:
            with contextlib.suppress(Exception):  # a leftover claim is swept with the uploads
                await self._attachments.release(cmd.attachment_ids, message_id)

    async def _apply(self, message: Message, snapshot: ProductSnapshot | None) -> Chat:
        chat = await self._chats.apply_message(
            message.chat_id, message.sender_side, message.seq, message.id, message.created_at,
            snapshot,
        )
        await record_unread(self._counters, chat, message.recipients)
        return chat

    def _validate(self, cmd: SendMessage) -> FilteredContent:
        errors = validate_client_message_id(cmd.client_message_id)
        if cmd.ref.product_id is not None:
            errors += validate_product_id(cmd.ref.product_id)
        if cmd.snapshot is not None:
            # What this side may write, at most: the other side's fields are ignored.
            mine = cmd.snapshot.written_by(cmd.caller.user.type, opening=True)
            errors += mine.validate(self._urls) if mine else []
        errors += validate_attachment_ids(list(cmd.attachment_ids))
        try:
            content = MessageContent.create(cmd.text, cmd.images, self._urls,
                                            has_attachments=bool(cmd.attachment_ids))
        except InvalidInput as exc:
            errors = exc.errors + errors
        if errors:
            raise InvalidInput(errors)
        filtered = self._filter.apply(content.text) if content.text else None
        if filtered is None:
            return FilteredContent(content.text, content.images, False)
        return FilteredContent(filtered.text, content.images, filtered.masked)

    async def _replay(
        self, earlier: Message, snapshot: ProductSnapshot | None
    ) -> Outcome[SentMessage]:
        """Answer as the first send did, after finishing its work if it was interrupted
        between storing the message and applying it to the chat (or after its uploads were
        released when the store's answer was lost: they are the message's again)."""
        if earlier.attachments and self._attachments is not None:
            await self._attachments.claim([a.id for a in earlier.attachments],
                                          earlier.sender or earlier.attachments[0].uploader,
                                          earlier.id)
        chat = await self._apply(earlier, None if earlier.opened_chat else snapshot)
        if earlier.opened_chat:
            chat = await self._display.show_one(chat)
        return Outcome(SentMessage(chat, earlier, earlier.opened_chat),
                       (SendReplayed(chat, earlier),))
