"""Chats and messages held in dictionaries, with the same contracts as MongoDB storage."""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from chat_server.application.ports import ChatCursor
from chat_server.domain.directory import side_fields
from chat_server.domain.errors import ChatNotFound, DuplicateClientMessageId
from chat_server.domain.model import (
    Chat,
    ChatKey,
    Message,
    ProductSnapshot,
    UserRef,
    UserType,
    sides_addressed,
)


class InMemoryChatRepository:
    def __init__(self) -> None:
        self._chats: dict[str, Chat] = {}
        self._by_key: dict[ChatKey, str] = {}
        self._by_user: defaultdict[UserRef, list[str]] = defaultdict(list)
        self._pairs: set[tuple[int, int]] = set()
        # (customer, vendor) pairs where the customer wrote: who sees a customer's presence.
        self._written: set[tuple[int, int]] = set()
        self._notices: dict[tuple[str, UserType], tuple[int, str]] = {}

    async def get(self, chat_id: str) -> Chat | None:
        return self._chats.get(chat_id)

    async def find(self, key: ChatKey) -> Chat | None:
        chat_id = self._by_key.get(key)
        return None if chat_id is None else self._chats[chat_id]

    async def open(self, chat: Chat) -> tuple[Chat, bool]:
        existing = self._by_key.get(chat.key)
        if existing is not None:
            return self._chats[existing], False
        self._chats[chat.id] = chat
        self._by_key[chat.key] = chat.id
        for user in chat.participants:
            self._by_user[user].append(chat.id)
        self._pairs.add((chat.customer_id, chat.vendor_id))
        return chat, True

    def _require(self, chat_id: str) -> Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        return chat

    async def allocate_seq(self, chat_id: str) -> int:
        chat = self._require(chat_id).with_seq_allocated()
        self._chats[chat_id] = chat
        return chat.last_seq

    async def apply_message(
        self, chat_id: str, sender: UserType | None, seq: int, message_id: str, at: datetime,
        snapshot: ProductSnapshot | None,
    ) -> Chat:
        chat = self._require(chat_id).with_message(sender, seq, message_id, at, snapshot)
        self._chats[chat_id] = chat
        if chat.customer_sent_seq > 0:
            self._written.add((chat.customer_id, chat.vendor_id))
        return chat

    async def mark_read(self, chat_id: str, reader: UserType) -> tuple[Chat, Chat]:
        before = self._require(chat_id)
        after = before.read_by(reader)
        self._chats[chat_id] = after
        return before, after

    async def forget_message(
        self, chat_id: str, message: Message, replacement: Message | None
    ) -> Chat:
        chat = self._require(chat_id).without_message(message, replacement)
        self._chats[chat_id] = chat
        return chat

    async def page_for(
        self, user: UserRef, limit: int, after: ChatCursor | None
    ) -> list[Chat]:
        chats = (self._chats[i] for i in self._by_user.get(user, ()))
        if after is not None:
            bound = (after.last_message_at, after.chat_id)
            chats = (c for c in chats if (c.last_message_at, c.id) < bound)
        return heapq.nlargest(limit, chats, key=lambda c: (c.last_message_at, c.id))

    async def set_blocking(
        self, customer_id: int, vendor_id: int, blocker: UserType, on: bool
    ) -> list[Chat]:
        field = f"{blocker.value}_blocks_{blocker.other.value}"
        found = []
        for chat_id in self._by_user.get(UserRef(UserType.CUSTOMER, customer_id), ()):
            chat = self._chats[chat_id]
            if chat.vendor_id == vendor_id:
                changes: dict[str, Any] = {field: on}
                self._chats[chat_id] = chat = attrs.evolve(chat, **changes)
                found.append(chat)
        return found

    async def blocking_between(self, customer_id: int, vendor_id: int) -> tuple[bool, bool]:
        for chat_id in self._by_user.get(UserRef(UserType.CUSTOMER, customer_id), ()):
            chat = self._chats[chat_id]
            if chat.vendor_id == vendor_id:
                return chat.customer_blocks_vendor, chat.vendor_blocks_customer
        return False, False

    async def claim_unread_notice(
        self, chat_id: str, side: UserType, read_seq: int, token: str
    ) -> bool:
        held = self._notices.get((chat_id, side))
        if held is not None and held[0] == read_seq and held[1] != token:
            return False
        self._notices[(chat_id, side)] = (read_seq, token)
        return True

    async def about_product(self, product_id: str, limit: int) -> list[Chat]:
        chats = (c for c in self._chats.values() if c.product_id == product_id)
        return heapq.nlargest(max(limit, 0), chats, key=lambda c: (c.last_message_at, c.id))

    async def erase_side(self, user: UserRef) -> int:
        emptied = side_fields(user.type)
        chat_ids = self._by_user.get(user, [])
        for chat_id in chat_ids:
            chat = self._chats[chat_id]
            self._chats[chat_id] = attrs.evolve(
                chat, snapshot=attrs.evolve(chat.snapshot, **emptied))
        return len(chat_ids)

    async def sees_presence_of(self, viewer: UserRef, subject: UserRef) -> bool:
        if viewer.type is subject.type:
            return False
        if subject.type is UserType.VENDOR:
            return (viewer.id, subject.id) in self._pairs
        return (subject.id, viewer.id) in self._written

    async def presence_audience(self, subject: UserRef, limit: int) -> list[UserRef]:
        seen: dict[UserRef, None] = {}
        if limit <= 0:
            return []
        for chat_id in reversed(self._by_user.get(subject, ())):
            chat = self._chats[chat_id]
            if subject.type is UserType.CUSTOMER and chat.customer_sent_seq == 0:
                continue
            if chat.blocks(subject):  # who the subject blocks sees nothing of them
                continue
            seen[chat.counterpart(subject)] = None
            if len(seen) >= limit:
                break
        return list(seen)


@attrs.define
class _ChatLog:
    """One chat's messages in seq order, and the unread ones per recipient side."""

    seqs: list[int] = attrs.Factory(list)
    ids: list[str] = attrs.Factory(list)
    unread: dict[UserType, deque[str]] = attrs.Factory(
        lambda: {UserType.CUSTOMER: deque(), UserType.VENDOR: deque()}
    )


class InMemoryMessageRepository:
    def __init__(self) -> None:
        self._messages: dict[str, Message] = {}
        self._logs: defaultdict[str, _ChatLog] = defaultdict(_ChatLog)
        self._by_client_id: dict[tuple[str, str], str] = {}
        # Per recipient, undelivered message ids in the order they were stored.
        self._undelivered: defaultdict[UserRef, dict[str, None]] = defaultdict(dict)

    async def add(self, message: Message) -> None:
        if message.client_message_id is not None:
            client_key = (message.dedup_owner, message.client_message_id)
            if client_key in self._by_client_id:
                raise DuplicateClientMessageId(message.client_message_id)
            self._by_client_id[client_key] = message.id
        self._messages[message.id] = message
        log = self._logs[message.chat_id]
        at = bisect.bisect(log.seqs, message.seq)
        log.seqs.insert(at, message.seq)
        log.ids.insert(at, message.id)
        if message.read_at is None:
            for side in sides_addressed(message.sender_side):
                unread = log.unread[side]
                if not unread or self._messages[unread[-1]].seq < message.seq:
                    unread.append(message.id)
                else:  # out of seq order: only when stored by hand, never on the send path
                    ordered = sorted([*unread, message.id], key=lambda i: self._messages[i].seq)
                    log.unread[side] = deque(ordered)
        if message.awaiting_delivery and not message.deleted:
            for recipient in message.recipients:
                self._undelivered[recipient][message.id] = None

    async def get(self, message_id: str) -> Message | None:
        return self._messages.get(message_id)

    async def by_client_id(self, owner: str, client_message_id: str) -> Message | None:
        message_id = self._by_client_id.get((owner, client_message_id))
        return None if message_id is None else self._messages[message_id]

    async def by_ids(self, message_ids: Sequence[str]) -> list[Message]:
        return [self._messages[i] for i in dict.fromkeys(message_ids) if i in self._messages]

    async def history(self, chat_id: str, before_seq: int, limit: int) -> list[Message]:
        log = self._logs.get(chat_id)
        if log is None:
            return []
        end = bisect.bisect_left(log.seqs, before_seq)
        found: list[Message] = []
        for index in range(end - 1, -1, -1):
            if len(found) >= limit:
                break
            message = self._messages[log.ids[index]]
            if not message.deleted:
                found.append(message)
        return found

    async def export_page(
        self, chat_id: str, after_seq: int, up_to_seq: int, limit: int
    ) -> list[Message]:
        log = self._logs.get(chat_id)
        if log is None or limit <= 0:
            return []
        start = bisect.bisect_right(log.seqs, after_seq)
        end = min(bisect.bisect_right(log.seqs, up_to_seq), start + limit)
        return [self._messages[i] for i in log.ids[start:end]]

    async def mark_read(
        self, chat_id: str, recipient: UserType, up_to_seq: int, at: datetime, limit: int
    ) -> list[str]:
        log = self._logs.get(chat_id)
        if log is None:
            return []
        unread = log.unread[recipient]
        marked: list[str] = []
        while unread and self._messages[unread[0]].seq <= up_to_seq:
            message = self._messages[unread.popleft()]
            if message.deleted:
                continue
            if message.read_at is None:  # a system message keeps its first reading
                self._messages[message.id] = attrs.evolve(message, read_at=at)
            if len(marked) < limit:
                marked.append(message.id)
        return marked

    async def edit(self, message_id: str, text: str | None, masked: bool, at: datetime
                   ) -> Message | None:
        message = self._messages.get(message_id)
        if message is None or message.deleted:
            return None
        edited = attrs.evolve(message, text=text, masked=masked, edited_at=at, updated_at=at)
        self._messages[message_id] = edited
        return edited

    async def erase(self, message_id: str, at: datetime) -> Message | None:
        message = self._messages.get(message_id)
        if message is None or message.deleted:
            return None
        self._messages[message_id] = message.erased(at)
        for recipient in message.recipients:
            self._forget_pending(recipient, message_id)
        return message

    def _forget_pending(self, recipient: UserRef, message_id: str) -> bool:
        pending = self._undelivered.get(recipient)
        if pending is None or message_id not in pending:
            return False
        del pending[message_id]
        if not pending:
            del self._undelivered[recipient]
        return True

    async def undelivered(self, recipient: UserRef, limit: int) -> list[Message]:
        pending = self._undelivered.get(recipient)
        if not pending:
            return []
        found = []
        for message_id in pending:
            found.append(self._messages[message_id])
            if len(found) >= limit:
                break
        return found

    async def mark_delivered(
        self, recipient: UserRef, message_ids: Sequence[str], at: datetime
    ) -> None:
        for message_id in message_ids:
            message = self._messages.get(message_id)
            if message is None or not self._forget_pending(recipient, message_id):
                continue
            still = any(message_id in self._undelivered.get(r, ()) for r in message.recipients)
            self._messages[message_id] = attrs.evolve(
                message, delivered_at=message.delivered_at or at, awaiting_delivery=still)
