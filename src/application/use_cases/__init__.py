"""The use cases, one class each, grouped by what they are about. Each is called with a
frozen command, enforces the business rules its docstring lists, and returns its result
with the events it produced (``Outcome``); queries return their result alone."""

from chat_server.application.use_cases.common import (
    LOAD_MESSAGES_LIMIT,
    OFFLINE_MESSAGES_LIMIT,
    PRESENCE_WATCHERS_LIMIT,
    RECEIPT_IDS_LIMIT,
    Caller,
    ChatFinder,
    ChatRef,
    ChatWithMessages,
)
from chat_server.application.use_cases.deleting import DeleteMessage, DeleteMessageHandler
from chat_server.application.use_cases.listing import (
    ChatPage,
    GetMessages,
    GetMessagesHandler,
    GetUserChats,
    GetUserChatsHandler,
    MessagePage,
)
from chat_server.application.use_cases.presence import (
    CheckOnlinePresence,
    CheckOnlinePresenceHandler,
    PresenceStatus,
    PresenceTracker,
    WentOffline,
)
from chat_server.application.use_cases.reading import (
    JoinChat,
    JoinChatHandler,
    MarkAsRead,
    MarkAsReadHandler,
    ReadMarker,
)
from chat_server.application.use_cases.sending import SendMessage, SendMessageHandler, SentMessage
from chat_server.application.use_cases.sessions import ChatSession, ChatSessions
from chat_server.application.use_cases.typing_signals import SignalTyping, SignalTypingHandler

__all__ = [
    "LOAD_MESSAGES_LIMIT",
    "OFFLINE_MESSAGES_LIMIT",
    "PRESENCE_WATCHERS_LIMIT",
    "RECEIPT_IDS_LIMIT",
    "Caller",
    "ChatFinder",
    "ChatPage",
    "ChatRef",
    "ChatSession",
    "ChatSessions",
    "ChatWithMessages",
    "CheckOnlinePresence",
    "CheckOnlinePresenceHandler",
    "DeleteMessage",
    "DeleteMessageHandler",
    "GetMessages",
    "GetMessagesHandler",
    "GetUserChats",
    "GetUserChatsHandler",
    "JoinChat",
    "JoinChatHandler",
    "MarkAsRead",
    "MarkAsReadHandler",
    "MessagePage",
    "PresenceStatus",
    "PresenceTracker",
    "ReadMarker",
    "SendMessage",
    "SendMessageHandler",
    "SentMessage",
    "SignalTyping",
    "SignalTypingHandler",
    "WentOffline",
]
