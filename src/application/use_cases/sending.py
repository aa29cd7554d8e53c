"""Sending a message: the first one of a (product, customer, vendor) triple opens the chat."""

from __future__ import annotations

import attrs

from chat_server.application.events import ChatOpened, Event, MessageStored, Outcome
from chat_server.application.ports import (
    Channel,
    ChatRepository,
    Clock,
    IdGenerator,
    MessageRepository,
    PresenceRegistry,
)
from chat_server.application.use_cases.common import Caller, ChatFinder, ChatRef
from chat_server.domain.errors import ChatNotFound, DuplicateClientMessageId, InvalidInput
from chat_server.domain.model import (
    Chat,
    Message,
    MessageContent,
    ProductSnapshot,
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
    - The message counts as delivered when the recipient holds a /chat connection as it
      is stored.
    """

    def __init__(
        self, *, chats: ChatRepository, messages: MessageRepository,
        presence: PresenceRegistry, clock: Clock, ids: IdGenerator,
    ) -> None:
        self._chats = chats
        self._messages = messages
        self._presence = presence
        self._clock = clock
        self._ids = ids
        self._finder = ChatFinder(chats)

    async def __call__(self, cmd: SendMessage) -> Outcome[SentMessage]:
        user = cmd.caller.user
        content = self._validate(cmd)
        if cmd.client_message_id is not None:
            earlier = await self._messages.by_client_id(user, cmd.client_message_id)
            if earlier is not None:
                return await self._replay(earlier, cmd.snapshot)

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
        seq = await self._chats.allocate_seq(chat.id)
        now = self._clock.now()
        message = Message(
            id=self._ids.new_id(), chat_id=chat.id, seq=seq, sender=user, recipient=recipient,
            text=content.text, images=content.images, created_at=now, updated_at=now,
            delivered_at=now if online else None, recipient_online=online,
            client_message_id=cmd.client_message_id, opened_chat=opened,
        )
        try:
            await self._messages.add(message)
        except DuplicateClientMessageId:
            # A concurrent repeat of this send won the race; our seq stays unused.
            assert cmd.client_message_id is not None
            earlier = await self._messages.by_client_id(user, cmd.client_message_id)
            if earlier is None:  # pragma: no cover - the winner is stored before it raises
                raise
            return await self._replay(earlier, cmd.snapshot)
        chat = await self._apply(message, None if opened else cmd.snapshot)
        event: Event = ChatOpened(chat, message) if opened else MessageStored(chat, message)
        return Outcome(SentMessage(chat, message, opened), (event,))

    async def _apply(self, message: Message, snapshot: ProductSnapshot | None) -> Chat:
        return await self._chats.apply_message(
            message.chat_id, message.sender.type, message.seq, message.id, message.created_at,
            snapshot,
        )

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

    async def _replay(
        self, earlier: Message, snapshot: ProductSnapshot | None
    ) -> Outcome[SentMessage]:
        """Answer as the first send did, after finishing its work if it was interrupted
        between storing the message and applying it to the chat."""
        chat = await self._apply(earlier, None if earlier.opened_chat else snapshot)
        return Outcome(SentMessage(chat, earlier, earlier.opened_chat))
