"""Editing, blocking and reporting, on the in-memory adapters: the rules of each."""

from __future__ import annotations

import pytest
from core_fakes import CUSTOMER, VENDOR, Core, caller

from chat_server.adapters.memory import InMemoryRateLimiter
from chat_server.adapters.memory.reports import InMemoryReportRepository
from chat_server.application.events import ChatUpdated, MessageEdited, UserReported
from chat_server.application.ports import RateKind, RateLimit
from chat_server.application.use_cases import ChatRef, SendMessage, SentMessage, SignalTyping
from chat_server.application.use_cases.blocking import (
    ReportUser,
    ReportUserHandler,
    SetBlock,
    SetBlockHandler,
)
from chat_server.application.use_cases.editing import EditMessage, EditMessageHandler
from chat_server.domain.contact_filter import ContactFilter, FilterMode
from chat_server.domain.errors import (
    BlockedByCounterpart,
    EditWindowPassed,
    InvalidInput,
    MessageNotFound,
    NoSharedChat,
    NotYourMessage,
    RateLimitExceeded,
)
from chat_server.domain.model import UserRef, UserType


async def first_send(core: Core, text: str = "hello") -> SentMessage:
    return await core.send(SendMessage(caller(CUSTOMER), ChatRef(product_id="p", recipient_id=2),
                                       text=text))


def editor(core: Core, window_s: float = 60.0, mode: FilterMode = FilterMode.OFF
           ) -> EditMessageHandler:
    return EditMessageHandler(chats=core.chats, messages=core.messages, clock=core.clock,
                              window_s=window_s, contact_filter=ContactFilter(mode, frozenset()))


async def test_only_the_sender_edits_and_only_within_the_window(core: Core):
    sent = await first_send(core)
    edit = editor(core, window_s=60)
    ref = ChatRef(sent.chat.id)
    outcome = await edit(EditMessage(caller(CUSTOMER), ref, sent.message.id, " better "))
    assert isinstance(outcome.events[0], MessageEdited)
    assert outcome.result.message.text == "better"
    assert outcome.result.message.edited_at == core.clock.at
    with pytest.raises(NotYourMessage):
        await edit(EditMessage(caller(VENDOR), ref, sent.message.id, "mine"))
    with pytest.raises(InvalidInput):
        await edit(EditMessage(caller(CUSTOMER), ref, sent.message.id, "  "))
    core.clock.advance(61)
    with pytest.raises(EditWindowPassed):
        await edit(EditMessage(caller(CUSTOMER), ref, sent.message.id, "late"))
    with pytest.raises(MessageNotFound):
        await edit(EditMessage(caller(CUSTOMER), ref, "f" * 24, "nothing"))


async def test_a_caption_of_images_may_be_removed_and_their_urls_are_not_checked_again(
    core: Core,
):
    """The images were checked when sent, under the URL policy of that time: an edit
    changes the text only."""
    sent = await core.send(SendMessage(
        caller(CUSTOMER), ChatRef(product_id="p", recipient_id=2), text="look",
        images=["https://img.example/1.jpg"]))
    edit = editor(core)
    ref = ChatRef(sent.chat.id)
    plain = await edit(EditMessage(caller(CUSTOMER), ref, sent.message.id, ""))
    assert plain.result.message.text is None
    assert plain.result.message.images == ("https://img.example/1.jpg",)


async def test_edits_are_filtered_like_sends(core: Core):
    sent = await first_send(core)
    masked = await editor(core, mode=FilterMode.MASK)(EditMessage(
        caller(CUSTOMER), ChatRef(sent.chat.id), sent.message.id, "mail me: a@example.com"))
    assert masked.result.message.masked and "[hidden]" in (masked.result.message.text or "")
    with pytest.raises(InvalidInput):
        await editor(core, mode=FilterMode.BLOCK)(EditMessage(
            caller(CUSTOMER), ChatRef(sent.chat.id), sent.message.id, "+1 555 123 4567"))


async def test_a_block_stops_the_blocked_side_in_every_chat_of_the_pair(core: Core):
    sent = await first_send(core)
    other = await core.send(SendMessage(caller(CUSTOMER), ChatRef(product_id="q",
                                                                  recipient_id=2), text="2"))
    block = SetBlockHandler(chats=core.chats, display=core.display)
    outcome = await block(SetBlock(caller(CUSTOMER), VENDOR, True))
    assert {e.chat.id for e in outcome.events if isinstance(e, ChatUpdated)} == {
        sent.chat.id, other.chat.id}
    for chat_id in (sent.chat.id, other.chat.id):
        with pytest.raises(BlockedByCounterpart):
            await core.send(SendMessage(caller(VENDOR), ChatRef(chat_id), text="buy"))
    with pytest.raises(BlockedByCounterpart):
        await core.typing(SignalTyping(caller(VENDOR), ChatRef(sent.chat.id), typing=True))
    with pytest.raises(BlockedByCounterpart):  # nor a new chat between them
        await core.send(SendMessage(caller(VENDOR), ChatRef(product_id="r", recipient_id=1),
                                    text="new"))
    # The blocker writes on, and its presence no longer reaches the vendor it blocks.
    await core.send(SendMessage(caller(CUSTOMER), ChatRef(sent.chat.id), text="still me"))
    assert await core.chats.presence_audience(CUSTOMER, 10) == []
    await block(SetBlock(caller(CUSTOMER), VENDOR, False))
    await core.send(SendMessage(caller(VENDOR), ChatRef(sent.chat.id), text="thanks"))
    with pytest.raises(NoSharedChat):
        await block(SetBlock(caller(CUSTOMER), UserRef(UserType.VENDOR, 99), True))


async def test_reports_need_a_shared_chat_and_are_limited(core: Core):
    sent = await first_send(core)
    reports = InMemoryReportRepository()
    report = ReportUserHandler(
        chats=core.chats, reports=reports, clock=core.clock, ids=core.ids,
        limiter=InMemoryRateLimiter({RateKind.REPORT: RateLimit(0.0001, 2)}))
    outcome = await report(ReportUser(caller(CUSTOMER), VENDOR, " scam ", sent.chat.id))
    assert isinstance(outcome.events[0], UserReported) and outcome.result.reason == "scam"
    assert await reports.by_reporter(CUSTOMER, 10) == [outcome.result]
    with pytest.raises(NoSharedChat):
        await report(ReportUser(caller(CUSTOMER), UserRef(UserType.VENDOR, 77), "spam"))
    await report(ReportUser(caller(CUSTOMER), VENDOR, "again"))
    with pytest.raises(RateLimitExceeded):
        await report(ReportUser(caller(CUSTOMER), VENDOR, "and again"))
