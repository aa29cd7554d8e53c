"""One contract suite for every ``AttachmentRepository`` (application/media.py): in memory
and MongoDB (SecantusDB here)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import pytest_asyncio
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.memory.attachments import InMemoryAttachmentRepository
from chat_server.adapters.mongo.attachments import MongoAttachmentRepository
from chat_server.adapters.mongo.client import ensure_indexes
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.application.media import AttachmentRepository
from chat_server.domain.media import Attachment, AttachmentsNotClaimable, MediaKind
from chat_server.domain.model import UserRef, UserType

IDS = ObjectIdGenerator()
T0 = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
_users = itertools.count(1)


def a_user() -> UserRef:
    return UserRef(UserType.CUSTOMER, next(_users))


def an_attachment(uploader: UserRef, seconds: int = 0, **changes: Any) -> Attachment:
    made = Attachment(
        id=IDS.new_id(), uploader=uploader, kind=MediaKind.IMAGE, mime="image/jpeg",
        size=1234, name="photo.jpg", width=640, height=480, has_thumbnail=True,
        created_at=T0 + timedelta(seconds=seconds))
    return attrs.evolve(made, **changes)


@pytest_asyncio.fixture
async def mongo_repository(
    mongo_client: AsyncIOMotorClient[Any], mongo_database_name: str
) -> AsyncIterator[MongoAttachmentRepository]:
    db = mongo_client[mongo_database_name]
    await ensure_indexes(db)
    yield MongoAttachmentRepository(db)
    await mongo_client.drop_database(mongo_database_name)


@pytest.fixture(params=["memory", "mongo"])
def repo(request: pytest.FixtureRequest) -> AttachmentRepository:
    if request.param == "memory":
        return InMemoryAttachmentRepository()
    mongo: AttachmentRepository = request.getfixturevalue("mongo_repository")
    return mongo


async def test_an_added_attachment_reads_back_as_it_was(repo: AttachmentRepository):
    user = a_user()
    pdf = an_attachment(user, kind=MediaKind.FILE, mime="application/pdf", width=None,
                        height=None, has_thumbnail=False, name="Invoice 42.pdf")
    photo = an_attachment(user)
    for attachment in (pdf, photo):
        await repo.add(attachment)
    assert await repo.get(pdf.id) == pdf and await repo.get(photo.id) == photo
    assert await repo.by_ids([photo.id, IDS.new_id(), "nope", pdf.id]) == [photo, pdf]
    assert await repo.get("nope") is None and await repo.get(IDS.new_id()) is None


async def test_claim_attaches_all_in_the_order_given_and_a_retry_claims_again(
    repo: AttachmentRepository,
):
    user, message = a_user(), IDS.new_id()
    first, second = an_attachment(user), an_attachment(user)
    await repo.add(first)
    await repo.add(second)
    claimed = await repo.claim([second.id, first.id], user, message)
    assert [a.id for a in claimed] == [second.id, first.id]
    assert all(a.message_id == message for a in claimed)
    assert [a.id for a in await repo.by_message(message)] == [second.id, first.id]
    again = await repo.claim([second.id, first.id], user, message)
    assert [a.id for a in again] == [second.id, first.id]


async def test_claim_is_all_or_nothing_and_names_every_failing_id(repo: AttachmentRepository):
    user, stranger = a_user(), a_user()
    mine, used, theirs = an_attachment(user), an_attachment(user), an_attachment(stranger)
    for attachment in (mine, used, theirs):
        await repo.add(attachment)
    earlier = IDS.new_id()
    await repo.claim([used.id], user, earlier)
    unknown = IDS.new_id()
    message = IDS.new_id()
    with pytest.raises(AttachmentsNotClaimable) as refused:
        await repo.claim([mine.id, used.id, theirs.id, unknown, "bad"], user, message)
    messages = [e.message for e in refused.value.errors]
    assert messages == [f"{used.id} is already used in another message",
                        f"{theirs.id} was not found", f"{unknown} was not found",
                        "bad was not found"]
    assert all(e.field == "attachments" for e in refused.value.errors)
    assert (await repo.get(mine.id)).message_id is None  # type: ignore[union-attr]
    assert (await repo.get(used.id)).message_id == earlier  # type: ignore[union-attr]
    assert await repo.by_message(message) == []


async def test_one_upload_claimed_by_many_messages_at_once_goes_to_exactly_one(
    repo: AttachmentRepository,
):
    user = a_user()
    attachment = an_attachment(user)
    await repo.add(attachment)
    messages = [IDS.new_id() for _ in range(8)]

    async def claim(message: str) -> str | None:
        try:
            await repo.claim([attachment.id], user, message)
        except AttachmentsNotClaimable:
            return None
        return message

    winners = [m for m in await asyncio.gather(*map(claim, messages)) if m is not None]
    assert len(winners) == 1
    assert (await repo.get(attachment.id)).message_id == winners[0]  # type: ignore[union-attr]


async def test_overlapping_claims_never_share_an_upload(repo: AttachmentRepository):
    user = a_user()
    uploads = [an_attachment(user) for _ in range(4)]
    for upload in uploads:
        await repo.add(upload)
    ids = [u.id for u in uploads]
    orders = [ids, ids[::-1], ids[1:] + ids[:1], ids[2:] + ids[:2]]
    messages = [IDS.new_id() for _ in orders]

    async def claim(order: list[str], message: str) -> None:
        with contextlib.suppress(AttachmentsNotClaimable):
            await repo.claim(order, user, message)

    await asyncio.gather(*(claim(o, m) for o, m in zip(orders, messages, strict=True)))
    attached = [(await repo.get(i)).message_id for i in ids]  # type: ignore[union-attr]
    held = {m for m in attached if m is not None}
    assert len(held) <= 1, "each message got all of the uploads or none of them"
    assert all(m is None for m in attached) or set(attached) == held


async def test_release_undoes_a_claim_of_that_message_only(repo: AttachmentRepository):
    user = a_user()
    one, two = an_attachment(user), an_attachment(user)
    await repo.add(one)
    await repo.add(two)
    first, second = IDS.new_id(), IDS.new_id()
    await repo.claim([one.id], user, first)
    await repo.claim([two.id], user, second)
    await repo.release([one.id, two.id], first)
    assert (await repo.get(one.id)).message_id is None  # type: ignore[union-attr]
    assert (await repo.get(two.id)).message_id == second  # type: ignore[union-attr]
    await repo.claim([one.id], user, second)


async def test_the_sweep_lists_old_unattached_ones_and_expiring_ones_cannot_be_claimed(
    repo: AttachmentRepository,
):
    user = a_user()
    old, older, fresh, sent = (an_attachment(user, 10), an_attachment(user, 5),
                               an_attachment(user, 100), an_attachment(user, 1))
    for attachment in (old, older, fresh, sent):
        await repo.add(attachment)
    await repo.claim([sent.id], user, IDS.new_id())
    cutoff = T0 + timedelta(seconds=50)
    assert [a.id for a in await repo.unattached_before(cutoff, 10)] == [older.id, old.id]
    assert [a.id for a in await repo.unattached_before(cutoff, 1)] == [older.id]
    marked = await repo.mark_expiring([older.id, old.id, sent.id])
    assert sorted(marked) == sorted([older.id, old.id])
    with pytest.raises(AttachmentsNotClaimable):
        await repo.claim([old.id], user, IDS.new_id())
    # A sweep that stopped half way finds them again.
    assert sorted(await repo.mark_expiring([old.id])) == [old.id]
    assert [a.id for a in await repo.unattached_before(cutoff, 10)] == [older.id, old.id]


async def test_delete_forgets_and_is_idempotent_and_uploads_are_listed_per_user(
    repo: AttachmentRepository,
):
    user, other = a_user(), a_user()
    mine = [an_attachment(user) for _ in range(3)]
    theirs = an_attachment(other)
    for attachment in [*mine, theirs]:
        await repo.add(attachment)
    await repo.claim([mine[0].id], user, IDS.new_id())
    assert [a.id for a in await repo.by_uploader(user, 10)] == sorted(a.id for a in mine)
    assert len(await repo.by_uploader(user, 2)) == 2
    await repo.delete([mine[0].id, mine[1].id, "nope"])
    await repo.delete([mine[0].id])
    assert await repo.get(mine[0].id) is None
    assert [a.id for a in await repo.by_uploader(user, 10)] == [mine[2].id]
    assert await repo.get(theirs.id) == theirs
