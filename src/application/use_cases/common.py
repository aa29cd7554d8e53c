"""What every use case shares: who asks (``Caller``), how a chat is named (``ChatRef``)
and the one rule that finds it (``ChatFinder``)."""

from __future__ import annotations

import attrs

from chat_server.application.ports import ChatRepository, MessageRepository
from chat_server.domain.errors import ChatNotFound, FieldError, InvalidInput
from chat_server.domain.model import Chat, ChatKey, Message, UserRef, validate_product_id

LOAD_MESSAGES_LIMIT = 20
OFFLINE_MESSAGES_LIMIT = 500
# A read receipt lists at most this many newly read ids; ``read_up_to_seq`` covers all.
RECEIPT_IDS_LIMIT = 1000
# userIsOnline / userIsOffline reach at most this many counterparts of a user.
PRESENCE_WATCHERS_LIMIT = 10_000


@attrs.frozen
class Caller:
    """Who asks: the user, and the connection they ask from (``None`` over HTTP)."""

    user: UserRef
    connection_id: str | None = None


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


async def latest_messages(messages: MessageRepository, chat: Chat, limit: int) -> list[Message]:
    """The chat's latest ``limit`` messages, oldest first."""
    found = await messages.history(chat.id, chat.history_end, limit)
    found.reverse()
    return found
