"""What happened: the events that use cases return beside their results.

A use case returns ``Outcome(result, events)``; whoever called it hands the events to the
``EventPublisher``, whose subscribers (the Socket.IO notifier, and next the webhook outbox
and metrics) act on them. An event exists only once the use case returned, so storage
always comes before any notification. Events name their audience (the users to tell);
how a transport reaches them is the subscriber's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

import attrs

from chat_server.domain.model import Chat, Message, UserRef
from chat_server.domain.reports import Report


@attrs.frozen
class MessageStored:
    """A message in an existing chat: for every device of both participants."""

    chat: Chat
    message: Message

    @property
    def audience(self) -> Sequence[UserRef]:
        return self.chat.participants


@attrs.frozen
class SendReplayed:
    """A send repeated with the same clientMessageId: nothing new happened for users (no
    one is told again), but durable subscribers may make sure they took the first one in
    (a crash may have come between storing it and them)."""

    chat: Chat
    message: Message

    @property
    def audience(self) -> Sequence[UserRef]:
        return ()


@attrs.frozen
class ChatOpened:
    """A new chat, with the message that opened it: the recipient learns of the chat
    (``newChat``), the sender's devices too (``newSentChat``). Opened by the marketplace's
    backend (no message), both participants learn of it (``newChat``)."""

    chat: Chat
    message: Message | None

    @property
    def audience(self) -> Sequence[UserRef]:
        return self.chat.participants


@attrs.frozen
class ReadReceipt:
    """``reader`` read everything addressed to them in the chat up to ``read_up_to_seq``;
    ``message_ids`` lists (at most a bounded number of) the messages newly marked."""

    chat_id: str
    reader: UserRef
    read_at: datetime | None
    message_ids: Sequence[str]
    read_up_to_seq: int
    audience: Sequence[UserRef]


@attrs.frozen
class MessageDeleted:
    chat_id: str
    message_id: str
    audience: Sequence[UserRef]


@attrs.frozen
class TypingChanged:
    """``user`` types (or stopped) in a chat: for the other participant only."""

    chat_id: str
    user: UserRef
    recipient: UserRef
    typing: bool

    @property
    def audience(self) -> Sequence[UserRef]:
        return (self.recipient,)


@attrs.frozen
class PresenceChanged:
    """A user came online (first presence connection) or went offline (last one closed):
    for the users who may see it (``watchers``)."""

    user: UserRef
    online: bool
    last_seen: datetime | None
    watchers: Sequence[UserRef]

    @property
    def audience(self) -> Sequence[UserRef]:
        return self.watchers


@attrs.frozen
class ChatUpdated:
    """What a chat shows changed (a trusted profile or product, a block ...): for both
    participants, each seeing it as they do."""

    chat: Chat

    @property
    def audience(self) -> Sequence[UserRef]:
        return self.chat.participants


@attrs.frozen
class MessageEdited:
    """A message's text changed: for every device of both participants."""

    chat: Chat
    message: Message

    @property
    def audience(self) -> Sequence[UserRef]:
        return self.chat.participants


@attrs.frozen
class UserReported:
    """A user reported another: for the marketplace (webhook), no user is told."""

    report: Report

    @property
    def audience(self) -> Sequence[UserRef]:
        return ()


Event = (
    MessageStored | ChatOpened | ReadReceipt | MessageDeleted | TypingChanged | PresenceChanged
    | ChatUpdated | MessageEdited | UserReported | SendReplayed
)
EVENT_TYPES: tuple[type, ...] = (
    MessageStored, ChatOpened, ReadReceipt, MessageDeleted, TypingChanged, PresenceChanged,
    ChatUpdated, MessageEdited, UserReported, SendReplayed,
)

R_co = TypeVar("R_co", covariant=True)


@attrs.frozen
class Outcome(Generic[R_co]):
    """A use case's result and the events it produced, in the order they happened."""

    result: R_co
    events: tuple[Event, ...] = ()
