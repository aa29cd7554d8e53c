"""Typing indicators: relayed, throttled, never stored."""

from __future__ import annotations

import attrs

from chat_server.application.events import Outcome, TypingChanged
from chat_server.application.ports import ChatRepository, TypingThrottle
from chat_server.application.use_cases.common import Caller, ChatFinder, ChatRef


@attrs.frozen
class SignalTyping:
    caller: Caller
    ref: ChatRef
    typing: bool


class SignalTypingHandler:
    """Tell the other participant that the caller types or stopped typing.

    - Participants only, and not when the other participant blocks the caller (403).
      ``typing`` is relayed at most once per throttle interval per
      user and chat; ``stopped`` always. Never stored.
    """

    def __init__(self, *, chats: ChatRepository, throttle: TypingThrottle) -> None:
        self._finder = ChatFinder(chats)
        self._throttle = throttle

    async def __call__(self, cmd: SignalTyping) -> Outcome[TypingChanged]:
        user = cmd.caller.user
        chat = await self._finder.get(user, cmd.ref)
        chat.ensure_may_write(user)
        signal = TypingChanged(chat.id, user, chat.counterpart(user), cmd.typing)
        relayed = not cmd.typing or await self._throttle.allow(user, chat.id)
        return Outcome(signal, (signal,) if relayed else ())
