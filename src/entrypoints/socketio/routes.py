"""Every client event of both namespaces, declared as data: how its payload is parsed, which
use case runs it, how its result is presented, how the reply reaches the asker, and which
extra rate bucket it takes. ``dispatch.Dispatcher`` runs all of them the same way."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from chat_server.application.events import (
    MessageDeleted,
    MessageEdited,
    Outcome,
    ReadReceipt,
    TypingChanged,
)
from chat_server.application.ports import RateKind
from chat_server.application.use_cases import (
    Caller,
    ChatPage,
    ChatSessions,
    ChatWithMessages,
    CheckOnlinePresenceHandler,
    DeleteMessageHandler,
    GetMessagesHandler,
    GetUserChatsHandler,
    JoinChatHandler,
    MarkAsReadHandler,
    MessagePage,
    PresenceStatus,
    PresenceTracker,
    SendMessageHandler,
    SentMessage,
    SignalTypingHandler,
)
from chat_server.application.use_cases.blocking import (
    BlockChange,
    ReportUserHandler,
    SetBlockHandler,
)
from chat_server.application.use_cases.editing import EditMessageHandler
from chat_server.domain.model import UserRef
from chat_server.domain.reports import Report
from chat_server.entrypoints.socketio import payloads, wire
from chat_server.entrypoints.socketio.cursor import encode_cursor
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE


class ReplyKind(enum.Enum):
    """How the reply of a route reaches the socket that asked."""

    CALLER = "caller"  # addressed to the asker alone: emitted to it, and in its ack
    SHARED = "shared"  # what the events tell the asker's user: in the ack, else by the emit
    ACK = "ack"  # the ack only


@attrs.frozen
class UseCases:
    send_message: SendMessageHandler
    join_chat: JoinChatHandler
    mark_as_read: MarkAsReadHandler
    delete_message: DeleteMessageHandler
    signal_typing: SignalTypingHandler
    get_user_chats: GetUserChatsHandler
    get_messages: GetMessagesHandler
    check_online_presence: CheckOnlinePresenceHandler
    presence: PresenceTracker
    sessions: ChatSessions
    edit_message: EditMessageHandler
    set_block: SetBlockHandler
    report_user: ReportUserHandler


Presented = tuple[str, wire.Envelope]


@attrs.frozen
class Route:
    parse: Callable[[Caller, Any], Any]  # raises payloads.PayloadError
    run: Callable[[Any], Awaitable[Any]]  # the use case: an Outcome, or a query's result
    present: Callable[[Caller, Any], Presented]
    reply: ReplyKind
    rate: RateKind | None = None  # a bucket taken beside the request bucket
    # Answers that may be large (history, chat lists) cost request tokens by their size.
    weighted: bool = False
    # What a request of this route takes: a token of the request bucket, then of ``rate``.
    buckets: tuple[RateKind, ...] = attrs.field(init=False)

    @buckets.default
    def _buckets(self) -> tuple[RateKind, ...]:
        return (RateKind.REQUEST,) if self.rate is None else (RateKind.REQUEST, self.rate)


def user_chats_envelope(page: ChatPage, viewer: UserRef) -> wire.Envelope:
    return wire.envelope(
        "Chats have been sent successfully",
        [wire.chat_json(item.chat, viewer, item.messages) for item in page.chats],
        nextCursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
        totalUnread=page.unread.total,
    )


def _sent(caller: Caller, sent: SentMessage) -> Presented:
    if sent.opened_chat:
        return "newSentChat", wire.chat_opened(sent.chat, sent.message, caller.user)
    return "receiveMessage", wire.message_received(sent.message, caller.user)


def _joined(caller: Caller, joined: ChatWithMessages) -> Presented:
    chat = wire.chat_json(joined.chat, caller.user, joined.messages)
    return "loadMessages", wire.envelope("Chats have been loaded", chat)


def _receipt(caller: Caller, receipt: ReadReceipt) -> Presented:
    return "updateReadReceipts", wire.read_receipt(receipt)


def _deleted(caller: Caller, deleted: MessageDeleted) -> Presented:
    return "messageDeleted", wire.message_deleted(deleted.chat_id, deleted.message_id)


def _edited(caller: Caller, edited: MessageEdited) -> Presented:
    return "messageEdited", wire.message_edited(edited.message, caller.user)


def _block(caller: Caller, change: BlockChange) -> Presented:
    message = "User has been blocked" if change.blocked else "User has been unblocked"
    return "blockUser" if change.blocked else "unblockUser", wire.envelope(message, {
        "userId": change.other.id, "userType": wire.user_type(change.other),
        "blocked": change.blocked})


def _reported(caller: Caller, report: Report) -> Presented:
    return "reportUser", wire.envelope("User has been reported", {
        "userId": report.reported.id, "userType": wire.user_type(report.reported),
        "chatId": report.chat_id})


def _typing(caller: Caller, signal: TypingChanged) -> Presented:
    name = "userTyping" if signal.typing else "stoppedTyping"
    return name, wire.typing(signal.chat_id, signal.user, signal.typing)


def _chats(caller: Caller, page: ChatPage) -> Presented:
    return "userChats", user_chats_envelope(page, caller.user)


def _messages(caller: Caller, page: MessagePage) -> Presented:
    return "moreMessages", wire.envelope("Messages have been loaded", {
        "chatId": page.chat_id,
        "messages": [wire.message_json(m, caller.user) for m in page.messages],
        "hasMore": page.has_more,
    })


def _presence(caller: Caller, status: PresenceStatus) -> Presented:
    return "onlinePresence", wire.presence(status.user, status.online, status.last_seen)


async def _nothing(command: None) -> Outcome[None]:
    return Outcome(None)


def _rooms_joined(caller: Caller, result: None) -> Presented:
    # Event-doc clients send their chat ids here; delivery is per user, so any payload is
    # accepted and ignored.
    return "joinRooms", wire.envelope("User joined all chat rooms", {})


def build_routes(uc: UseCases) -> Mapping[str, Mapping[str, Route]]:
    check = Route(payloads.parse_check_online_presence, uc.check_online_presence, _presence,
                  ReplyKind.CALLER)
    return {
        PRESENCE: {"checkOnlinePresence": check},
        CHAT: {
            "joinChat": Route(payloads.parse_join_chat, uc.join_chat, _joined, ReplyKind.CALLER,
                              weighted=True),
            "sendMessage": Route(payloads.parse_send_message, uc.send_message, _sent,
                                 ReplyKind.SHARED, rate=RateKind.SEND),
            "markAsRead": Route(payloads.parse_mark_as_read, uc.mark_as_read, _receipt,
                                ReplyKind.SHARED),
            "deleteMessage": Route(payloads.parse_delete_message, uc.delete_message, _deleted,
                                   ReplyKind.SHARED),
            "typing": Route(lambda c, d: payloads.parse_typing(c, d, True), uc.signal_typing,
                            _typing, ReplyKind.ACK),
            "stoppedTyping": Route(lambda c, d: payloads.parse_typing(c, d, False),
                                   uc.signal_typing, _typing, ReplyKind.ACK),
            "getUserChats": Route(payloads.parse_get_user_chats, uc.get_user_chats, _chats,
                                  ReplyKind.CALLER, weighted=True),
            "getMessages": Route(payloads.parse_get_messages, uc.get_messages, _messages,
                                 ReplyKind.CALLER, weighted=True),
            "joinRooms": Route(lambda c, d: None, _nothing, _rooms_joined, ReplyKind.ACK),
            "editMessage": Route(payloads.parse_edit_message, uc.edit_message, _edited,
                                 ReplyKind.SHARED),
            # The chatUpdated events reach the caller too; the ack says what was done.
            "blockUser": Route(lambda c, d: payloads.parse_block(c, d, True), uc.set_block,
                               _block, ReplyKind.ACK),
            "unblockUser": Route(lambda c, d: payloads.parse_block(c, d, False), uc.set_block,
                                 _block, ReplyKind.ACK),
            "reportUser": Route(payloads.parse_report_user, uc.report_user, _reported,
                                ReplyKind.ACK),
            "checkOnlinePresence": check,
        },
    }
