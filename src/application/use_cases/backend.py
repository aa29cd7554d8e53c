"""What the marketplace's backend does over the server API: trusted profiles and products,
chats it opens, system messages it posts. It acts for no user, so no participant rule
applies; every change reaches sockets through the same events as a socket's would."""

from __future__ import annotations

import attrs

from chat_server.application.events import ChatOpened, ChatUpdated, Event, MessageStored, Outcome
from chat_server.application.ports import (
    Channel,
    ChatRepository,
    Clock,
    IdGenerator,
    MessageRepository,
    PresenceRegistry,
    ProductRepository,
    ProfileRepository,
    UnreadCounters,
)
from chat_server.application.use_cases.common import (
    LOAD_MESSAGES_LIMIT,
    ChatWithMessages,
    latest_messages,
)
from chat_server.application.use_cases.display import TrustedDisplay, record_unread
from chat_server.application.use_cases.listing import MessagePage
from chat_server.domain.directory import Product, Profile
from chat_server.domain.errors import (
    ChatNotFound,
    DuplicateClientMessageId,
    InvalidInput,
    ProductNotFound,
    UserNotFound,
)
from chat_server.domain.model import (
    Chat,
    ChatKey,
    Message,
    MessageContent,
    ProductPrice,
    ProductSnapshot,
    UrlPolicy,
    UserRef,
    dedup_owner,
    validate_client_message_id,
    validate_product_id,
)

# chatUpdated reaches the participants of at most this many chats (the most recent) when a
# profile or product changes, so that one change cannot fan out without bound.
CHAT_UPDATE_FANOUT = 1000


@attrs.frozen
class SetProfile:
    user: UserRef
    name: str | None
    avatar_url: str | None


@attrs.frozen
class SetProduct:
    product_id: str
    name: str | None
    price: ProductPrice | None
    image_url: str | None


class Directory:
    """Trusted profiles and products.

    - A profile or product is validated like display fields (lengths, the URL policy).
    - Once set, every Chat object shows it; the participants of the chats it shows in
      (the most recent ``CHAT_UPDATE_FANOUT``) get ``chatUpdated``, once per chat.
    """

    def __init__(
        self, *, chats: ChatRepository, profiles: ProfileRepository,
        products: ProductRepository, display: TrustedDisplay, clock: Clock,
        urls: UrlPolicy | None = None,
    ) -> None:
        self._chats = chats
        self._profiles = profiles
        self._products = products
        self._display = display
        self._clock = clock
        self._urls = urls or UrlPolicy()

    async def set_profile(self, cmd: SetProfile) -> Outcome[Profile]:
        profile = Profile(cmd.user, cmd.name, cmd.avatar_url, self._clock.now())
        errors = profile.validate(self._urls)
        if errors:
            raise InvalidInput(errors)
        await self._profiles.put(profile)
        chats = await self._chats.page_for(cmd.user, CHAT_UPDATE_FANOUT, None)
        return Outcome(profile, await self._updated(chats))

    async def profile(self, user: UserRef) -> Profile:
        found = await self._profiles.get(user)
        if found is None:
            raise UserNotFound(str(user))
        return found

    async def product(self, product_id: str) -> Product:
        found = await self._products.get(product_id)
        if found is None:
            raise ProductNotFound(product_id)
        return found

    async def set_product(self, cmd: SetProduct) -> Outcome[Product]:
        product = Product(cmd.product_id, cmd.name, cmd.price, cmd.image_url,
                          self._clock.now())
        errors = product.validate(self._urls)
        if errors:
            raise InvalidInput(errors)
        await self._products.put(product)
        chats = await self._chats.about_product(cmd.product_id, CHAT_UPDATE_FANOUT)
        return Outcome(product, await self._updated(chats))

    async def _updated(self, chats: list[Chat]) -> tuple[Event, ...]:
        return tuple(ChatUpdated(chat) for chat in await self._display.show(chats))


@attrs.frozen
class OpenChat:
    key: ChatKey


@attrs.frozen
class OpenedChat:
    chat: Chat
    created: bool


class OpenChatHandler:
    """Open the chat of a (product, customer, vendor) triple, or find it: idempotent.
    A new chat reaches both participants as ``newChat`` (with no message yet)."""

    def __init__(self, *, chats: ChatRepository, display: TrustedDisplay, clock: Clock,
                 ids: IdGenerator) -> None:
        self._chats = chats
        self._display = display
        self._clock = clock
        self._ids = ids

    async def __call__(self, cmd: OpenChat) -> Outcome[OpenedChat]:
        errors = validate_product_id(cmd.key.product_id)
        if errors:
            raise InvalidInput(errors)
        chat = await self._chats.find(cmd.key)
        created = False
        if chat is None:
            new = Chat.open(self._ids.new_id(), cmd.key, ProductSnapshot(), self._clock.now())
            chat, created = await self._chats.open(new)
        chat = await self._display.show_one(chat)
        events: tuple[Event, ...] = (ChatOpened(chat, None),) if created else ()
        return Outcome(OpenedChat(chat, created), events)


@attrs.frozen
class PostSystemMessage:
    chat_id: str
    text: str | None = None
    images: list[str] | None = None
    client_message_id: str | None = None


@attrs.frozen
class PostedMessage:
    chat: Chat
    message: Message
    created: bool  # False: a repeated client_message_id, answered with the first message


class PostSystemMessageHandler:
    """Post a system message ("your order has shipped") into a chat.

    - Content rules as for a send; ``client_message_id`` makes it idempotent per chat.
    - No sender, no recipient: it is unread for both participants and reaches both as
      ``receiveMessage``. It takes a seq, is stored, then applied (as a send).
    """

    def __init__(
        self, *, chats: ChatRepository, messages: MessageRepository,
        presence: PresenceRegistry, counters: UnreadCounters, clock: Clock, ids: IdGenerator,
        urls: UrlPolicy | None = None,
    ) -> None:
        self._chats = chats
        self._messages = messages
        self._presence = presence
        self._counters = counters
        self._clock = clock
        self._ids = ids
        self._urls = urls or UrlPolicy()

    async def __call__(self, cmd: PostSystemMessage) -> Outcome[PostedMessage]:
        errors = validate_client_message_id(cmd.client_message_id)
        if errors:
            raise InvalidInput(errors)
        content = MessageContent.create(cmd.text, cmd.images, self._urls)
        chat = await self._chats.get(cmd.chat_id)
        if chat is None:
            raise ChatNotFound(cmd.chat_id)
        if cmd.client_message_id is not None:
            earlier = await self._messages.by_client_id(dedup_owner(None, chat.id),
                                                        cmd.client_message_id)
            if earlier is not None:
                return Outcome(PostedMessage(await self._apply(earlier), earlier, False))
        online = [await self._presence.is_connected(u, Channel.CHAT) for u in chat.participants]
        local = [await self._presence.holds_locally(u, Channel.CHAT) for u in chat.participants]
        seq = await self._chats.allocate_seq(chat.id)
        now = self._clock.now()
        message = Message(
            id=self._ids.new_id(), chat_id=chat.id, seq=seq, sender=None, recipient=None,
            text=content.text, images=content.images, created_at=now, updated_at=now,
            delivered_at=now if any(online) else None, awaiting_delivery=not all(local),
            recipient_online=any(online), client_message_id=cmd.client_message_id,
            system_audience=chat.participants,
        )
        try:
            await self._messages.add(message)
        except DuplicateClientMessageId:
            assert cmd.client_message_id is not None
            earlier = await self._messages.by_client_id(message.dedup_owner,
                                                        cmd.client_message_id)
            if earlier is None:  # pragma: no cover - the winner is stored before it raises
                raise
            return Outcome(PostedMessage(await self._apply(earlier), earlier, False))
        chat = await self._apply(message)
        return Outcome(PostedMessage(chat, message, True), (MessageStored(chat, message),))

    async def _apply(self, message: Message) -> Chat:
        chat = await self._chats.apply_message(
            message.chat_id, None, message.seq, message.id, message.created_at, None)
        await record_unread(self._counters, chat, message.recipients)
        return chat


class BackendReads:
    """Chats and history as the backend reads them: any chat, by id."""

    def __init__(self, *, chats: ChatRepository, messages: MessageRepository,
                 display: TrustedDisplay) -> None:
        self._chats = chats
        self._messages = messages
        self._display = display

    async def chat(self, chat_id: str) -> ChatWithMessages:
        chat = await self._require(chat_id)
        latest = await latest_messages(self._messages, chat, LOAD_MESSAGES_LIMIT)
        return ChatWithMessages(await self._display.show_one(chat), latest)

    async def history(self, chat_id: str, before_seq: int | None, limit: int) -> MessagePage:
        chat = await self._require(chat_id)
        before = before_seq if before_seq is not None else chat.history_end
        found = await self._messages.history(chat.id, before, limit + 1)
        page = found[:limit]
        page.reverse()
        return MessagePage(chat.id, page, has_more=len(found) > limit)

    async def _require(self, chat_id: str) -> Chat:
        chat = await self._chats.get(chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        return chat
