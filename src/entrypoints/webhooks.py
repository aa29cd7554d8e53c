"""The webhook subscriber of the event publisher: what happened, as the marketplace's
webhooks (SERVER_API.md section 5), put in the durable outbox before the asker is answered.

Item ids are derived from what they announce (a message's id ...), so announcing the same
thing again (a retried send finishing an interrupted one) adds nothing twice. Messages
stored for a recipient who is not connected schedule an ``unread.check`` job, evaluated
``unread_after_s`` later (``UnreadNotices``); at most one per chat and recipient is pending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from chat_server.application.events import (
    ChatOpened,
    Event,
    MessageDeleted,
    MessageStored,
    ReadReceipt,
    SendReplayed,
    UserReported,
)
from chat_server.application.outbox import OutboxItem, derived_item_id
from chat_server.application.ports import Clock
from chat_server.application.use_cases.unread_notices import UnreadNotices
from chat_server.application.webhooks import WebhookDispatcher
from chat_server.domain.model import Chat, Message, UserRef, UserType
from chat_server.entrypoints.socketio import wire

UNREAD_CHECK = "unread.check"


def user_json(user: UserRef) -> dict[str, Any]:
    return {"id": user.id, "type": wire.user_type(user)}


class WebhookSubscriber:
    """Off (handling nothing) without a dispatcher, i.e. without ``CHAT_WEBHOOK_URL``."""

    def __init__(self, dispatcher: WebhookDispatcher | None, clock: Clock,
                 unread_after_s: float) -> None:
        self._dispatcher = dispatcher
        self._clock = clock
        self._unread_after_s = unread_after_s
        self.handles: frozenset[type] = frozenset() if dispatcher is None else frozenset({
            ChatOpened, MessageStored, SendReplayed, ReadReceipt, MessageDeleted, UserReported})

    async def deliver(self, event: Event, context: object | None) -> None:
        if self._dispatcher is None:
            return
        items = self.items(event)
        if items:
            await self._dispatcher.add(items)

    def items(self, event: Event) -> list[OutboxItem]:
        match event:
            case ChatOpened(chat=chat, message=message):
                items = [self._item(f"{chat.id}/created", "chat.created",
                                    {"chat": wire.chat_json(chat, chat.vendor, [])})]
                return items + (self._message_items(chat, message) if message else [])
            case MessageStored(chat=chat, message=message) | SendReplayed(
                    chat=chat, message=message):
                return self._message_items(chat, message)
            case ReadReceipt():
                return [self._item(
                    f"{event.chat_id}/read/{event.reader}/{event.read_up_to_seq}", "message.read",
                    {"chatId": event.chat_id, "reader": user_json(event.reader),
                     "readUpToSeq": event.read_up_to_seq, "messageIds": list(event.message_ids)})]
            case MessageDeleted(chat_id=chat_id, message_id=message_id):
                return [self._item(f"{message_id}/deleted", "message.deleted",
                                   {"chatId": chat_id, "messageId": message_id})]
            case UserReported(report=report):
                return [self._item(f"{report.id}/reported", "user.reported", {
                    "reporter": user_json(report.reporter),
                    "reported": user_json(report.reported),
                    "chatId": report.chat_id, "reason": report.reason})]
        return []

    def _message_items(self, chat: Chat, message: Message) -> list[OutboxItem]:
        items = [self._item(f"{message.id}/created", "message.created", {
            "message": wire.message_json(message), "chatId": chat.id,
            "recipientOnline": message.recipient_online})]
        if message.awaiting_delivery:  # someone may not see it: look again later
            for user in message.recipients:
                items.append(self._item(
                    f"{message.id}/unread/{user}", UNREAD_CHECK,
                    {"chatId": chat.id, "user": user_json(user), "messageId": message.id},
                    delay_s=self._unread_after_s, key=f"unread|{chat.id}|{user}"))
        return items

    def _item(self, what: str, kind: str, data: dict[str, Any], delay_s: float = 0.0,
              key: str | None = None) -> OutboxItem:
        now = self._clock.now()
        return OutboxItem(id=derived_item_id(what), kind=kind, data=data, created_at=now,
                          due_at=now + timedelta(seconds=delay_s), key=key)


def unread_check_handler(notices: UnreadNotices, clock: Clock
                         ) -> Callable[[OutboxItem], Awaitable[list[OutboxItem]]]:
    """The ``unread.check`` job: a ``message.unread`` webhook, or nothing."""

    async def evaluate(item: OutboxItem) -> list[OutboxItem]:
        data = item.data
        user = wire_user(data["user"])
        notice = await notices.evaluate(data["chatId"], user, data["messageId"], item.id)
        if notice is None:
            return []
        now = clock.now()
        return [OutboxItem(
            id=derived_item_id(item.id), kind="message.unread", created_at=now, due_at=now,
            data={"user": user_json(user), "chatId": notice.chat.id,
                  "unreadCount": notice.unread_count,
                  "messages": [wire.message_json(m, user) for m in notice.messages]})]

    return evaluate


def wire_user(value: Any) -> UserRef:
    return UserRef(UserType(str(value["type"]).lower()), int(value["id"]))
