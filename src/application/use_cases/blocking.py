"""Blocking another user, and reporting one."""

from __future__ import annotations

import attrs

from chat_server.application.events import ChatUpdated, Outcome, UserReported
from chat_server.application.ports import (
    ChatRepository,
    Clock,
    IdGenerator,
    RateKind,
    RateLimiter,
    ReportRepository,
)
from chat_server.application.use_cases.common import Caller
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.domain.errors import ChatNotFound, NoSharedChat, RateLimitExceeded
from chat_server.domain.model import UserRef, UserType
from chat_server.domain.reports import Report, checked_reason


def _pair(a: UserRef, b: UserRef) -> tuple[int, int]:
    """(customer id, vendor id) of two users of different types."""
    return (a.id, b.id) if a.type is UserType.CUSTOMER else (b.id, a.id)


@attrs.frozen
class SetBlock:
    caller: Caller
    other: UserRef
    blocked: bool


@attrs.frozen
class BlockChange:
    other: UserRef
    blocked: bool


class SetBlockHandler:
    """Block (or unblock) a user who shares a chat with the caller (403 otherwise).

    - While A blocks B, B sends, types and edits nothing in their chats (403), gets no
      presence of A and is told A is offline with no last seen; A still reads the history.
    - It holds for every chat of the pair; each shows ``blocked`` / ``blockedBy`` and both
      participants get ``chatUpdated``. Idempotent.
    """

    def __init__(self, *, chats: ChatRepository, display: TrustedDisplay) -> None:
        self._chats = chats
        self._display = display

    async def __call__(self, cmd: SetBlock) -> Outcome[BlockChange]:
        user = cmd.caller.user
        if user.type is cmd.other.type:
            raise NoSharedChat(str(cmd.other))
        chats = await self._chats.set_blocking(*_pair(user, cmd.other), user.type, cmd.blocked)
        if not chats:  # no chat between them: nothing was changed
            raise NoSharedChat(str(cmd.other))
        events = tuple(ChatUpdated(chat) for chat in await self._display.show(chats))
        return Outcome(BlockChange(cmd.other, cmd.blocked), events)


@attrs.frozen
class ReportUser:
    caller: Caller
    reported: UserRef
    reason: str
    chat_id: str | None = None


class ReportUserHandler:
    """Report a user who shares a chat with the caller (403 otherwise), optionally about
    one of their chats (404 when it is not one). Stored for moderators and sent to the
    marketplace (``user.reported``). At most so many per user and day (429)."""

    def __init__(self, *, chats: ChatRepository, reports: ReportRepository,
                 limiter: RateLimiter, clock: Clock, ids: IdGenerator) -> None:
        self._chats = chats
        self._reports = reports
        self._limiter = limiter
        self._clock = clock
        self._ids = ids

    async def __call__(self, cmd: ReportUser) -> Outcome[Report]:
        user = cmd.caller.user
        reason = checked_reason(cmd.reason)
        if user.type is cmd.reported.type:
            raise NoSharedChat(str(cmd.reported))
        customer_id, vendor_id = _pair(user, cmd.reported)
        if not await self._chats.sees_presence_of(UserRef(UserType.CUSTOMER, customer_id),
                                                  UserRef(UserType.VENDOR, vendor_id)):
            raise NoSharedChat(str(cmd.reported))
        if cmd.chat_id is not None:
            chat = await self._chats.get(cmd.chat_id)
            if chat is None or not (chat.is_participant(user)
                                    and chat.is_participant(cmd.reported)):
                raise ChatNotFound(cmd.chat_id)
        if not await self._limiter.acquire(user, RateKind.REPORT):
            raise RateLimitExceeded("reports")
        report = Report(self._ids.new_id(), user, cmd.reported, cmd.chat_id, reason,
                        self._clock.now())
        await self._reports.add(report)
        return Outcome(report, (UserReported(report),))
