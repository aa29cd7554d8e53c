"""Sending uploads in a message: the send use case claims them for the message, all or
nothing, gives them back when the message is not stored, and a retry finds them again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from core_fakes import CUSTOMER, VENDOR, build_core, caller, running

from chat_server.adapters.memory.attachments import InMemoryAttachmentRepository
from chat_server.application.use_cases import ChatRef, SendMessage, SendMessageHandler
from chat_server.domain.errors import InvalidInput, StorageUnavailable
from chat_server.domain.media import Attachment, AttachmentsNotClaimable, MediaKind

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def upload(number: int, uploader: Any = CUSTOMER) -> Attachment:
    return Attachment(id=f"{0xA000 + number:024x}", uploader=uploader, kind=MediaKind.IMAGE,
                      mime="image/jpeg", size=1000, name=f"{number}.jpg", width=10, height=10,
                      has_thumbnail=True, created_at=T0)


@pytest.fixture
async def world() -> Any:
    core = build_core()
    attachments = InMemoryAttachmentRepository()
    handler = SendMessageHandler(chats=core.chats, messages=core.messages,
                                 presence=core.presence, clock=core.clock, ids=core.ids,
                                 counters=core.counters, display=core.display,
                                 attachments=attachments)
    send = running(core.publisher, handler)
    opened = await send(SendMessage(caller(CUSTOMER), ChatRef(product_id="sku",
                                                              recipient_id=VENDOR.id), text="hi"))
    return core, attachments, send, ChatRef(opened.chat.id)


async def test_a_message_takes_its_uploads_in_order_and_no_other_message_can(world: Any):
    _, attachments, send, chat = world
    first, second = upload(1), upload(2)
    for a in (first, second):
        await attachments.add(a)
    sent = await send(SendMessage(caller(CUSTOMER), chat, attachment_ids=(second.id, first.id)))
    assert [a.id for a in sent.message.attachments] == [second.id, first.id]
    assert sent.message.text is None
    assert {a.message_id for a in await attachments.by_ids([first.id])} == {sent.message.id}
    with pytest.raises(AttachmentsNotClaimable):
        await send(SendMessage(caller(CUSTOMER), chat, attachment_ids=(first.id,)))


async def test_someone_elses_upload_is_refused_and_nothing_is_taken(world: Any):
    core, attachments, send, chat = world
    mine, theirs = upload(3), upload(4, uploader=VENDOR)
    for a in (mine, theirs):
        await attachments.add(a)
    before = (await core.chats.get(chat.chat_id)).last_seq
    with pytest.raises(AttachmentsNotClaimable):
        await send(SendMessage(caller(CUSTOMER), chat, attachment_ids=(mine.id, theirs.id)))
    assert [a.message_id for a in await attachments.by_ids([mine.id, theirs.id])] == [None, None]
    assert (await core.chats.get(chat.chat_id)).last_seq == before  # no seq was spent


async def test_an_upload_comes_back_when_the_message_is_not_stored_and_a_retry_sends_it(
    world: Any,
):
    core, attachments, send, chat = world
    photo = upload(5)
    await attachments.add(photo)
    real_add = core.messages.add

    async def failing_add(message: Any) -> None:
        raise StorageUnavailable("down")

    core.messages.add = failing_add
    command = SendMessage(caller(CUSTOMER), chat, attachment_ids=(photo.id,),
                          client_message_id="with-photo")
    with pytest.raises(StorageUnavailable):
        await send(command)
    assert (await attachments.get(photo.id)).message_id is None
    core.messages.add = real_add
    sent = await send(command)
    assert [a.id for a in sent.message.attachments] == [photo.id]
    replayed = await send(command)
    assert replayed.message.id == sent.message.id
    assert (await attachments.get(photo.id)).message_id == sent.message.id


@pytest.mark.parametrize("ids", [
    tuple(f"{n:024x}" for n in range(11)),  # more than 10
    ("0" * 24, "0" * 24),
    ("nope",),
])
async def test_bad_attachment_lists_are_invalid_input(world: Any, ids: tuple[str, ...]):
    _, _, send, chat = world
    with pytest.raises(InvalidInput) as raised:
        await send(SendMessage(caller(CUSTOMER), chat, attachment_ids=ids))
    assert {e.field for e in raised.value.errors} == {"attachments"}
