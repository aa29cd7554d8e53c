"""The attachment use cases on the in-memory adapters, with the real image pipeline run
inline (no workers, no servers)."""

from __future__ import annotations

from datetime import datetime

import attrs
import media_corpus as corpus
import pytest
from core_fakes import FakeClock, SequentialIds

from chat_server.adapters.media.pillow import process_upload
from chat_server.adapters.memory import InMemoryRateLimiter
from chat_server.adapters.memory.attachments import (
    InMemoryAttachmentRepository,
    InMemoryMediaStore,
)
from chat_server.adapters.system.media_signing import HmacMediaSigner
from chat_server.application.media import ProcessedMedia, UploadedFile
from chat_server.application.ports import RateKind, RateLimit
from chat_server.application.uploads import (
    DeleteAttachments,
    DeleteAttachmentsHandler,
    ReadAttachment,
    ReadAttachmentHandler,
    SweepUnattached,
    SweepUnattachedHandler,
    UploadAttachment,
    UploadAttachmentHandler,
)
from chat_server.domain.errors import StorageUnavailable
from chat_server.domain.media import (
    Attachment,
    AttachmentNotFound,
    MediaAccessDenied,
    MediaLimits,
    MediaTooLarge,
    TooManyUploads,
    UnsupportedMedia,
    Variant,
    sniff,
)
from chat_server.domain.model import UserRef, UserType

LIMITS = MediaLimits()
CUSTOMER, VENDOR, STRANGER = (UserRef(UserType.CUSTOMER, 1), UserRef(UserType.VENDOR, 2),
                              UserRef(UserType.CUSTOMER, 3))
ORIGINAL, THUMB = Variant.ORIGINAL, Variant.THUMB
MESSAGE = "6b060a73b452245f69095cd1"


class InlineProcessor:
    """The real pipeline, run on the caller's thread (the service runs it in workers)."""

    async def process(self, data: bytes, filename: str) -> ProcessedMedia:
        return process_upload(data, filename, LIMITS)


@attrs.define
class BytesSource:
    """An upload already in memory; refuses over the limit as the HTTP body reader does."""

    data: bytes
    name: str = "photo.jpg"
    received: bool = False

    async def receive(self, limits: MediaLimits) -> UploadedFile:
        self.received = True
        if len(self.data) > limits.max_bytes_for(sniff(self.data[:12])):
            raise MediaTooLarge("too large")
        return UploadedFile(self.name, self.data)


class FailingAdds(InMemoryAttachmentRepository):
    async def add(self, attachment: Attachment) -> None:
        raise StorageUnavailable("down")


@attrs.define
class World:
    clock: FakeClock
    store: InMemoryMediaStore
    attachments: InMemoryAttachmentRepository
    signer: HmacMediaSigner
    upload: UploadAttachmentHandler
    read: ReadAttachmentHandler
    sweep: SweepUnattachedHandler
    delete: DeleteAttachmentsHandler
    now: list[float]

    def grant(self, attachment_id: str, variant: Variant, viewer: UserRef) -> ReadAttachment:
        return ReadAttachment(attachment_id, variant, viewer,
                              self.signer.sign(attachment_id, variant, viewer))


def make_world(attachments: InMemoryAttachmentRepository | None = None, burst: int = 10) -> World:
    clock, store = FakeClock(), InMemoryMediaStore()
    attachments = attachments or InMemoryAttachmentRepository()
    now = [1_800_000_000.0]
    signer = HmacMediaSigner(b"k" * 32, 600, clock=lambda: now[0])
    limiter = InMemoryRateLimiter({RateKind.UPLOAD: RateLimit(1 / 3600, burst)})
    return World(
        clock, store, attachments, signer,
        UploadAttachmentHandler(InlineProcessor(), store, attachments, limiter, clock,
                                SequentialIds(), LIMITS),
        ReadAttachmentHandler(signer, store, attachments),
        SweepUnattachedHandler(store, attachments, clock, ttl_s=3600),
        DeleteAttachmentsHandler(store, attachments), now,
    )


@pytest.fixture
def world() -> World:
    return make_world()


async def test_an_upload_stores_both_variants_and_an_unattached_attachment(world: World):
    attachment = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    assert attachment.uploader == CUSTOMER and attachment.message_id is None
    assert (attachment.width, attachment.height, attachment.has_thumbnail) == (640, 480, True)
    assert await world.attachments.get(attachment.id) == attachment
    original = await world.store.get(attachment.id, ORIGINAL)
    assert original is not None and len(original.data) == attachment.size
    assert await world.store.get(attachment.id, THUMB) is not None


async def test_uploads_beyond_the_burst_are_refused_without_receiving_the_body():
    world = make_world(burst=2)
    for _ in range(2):
        await world.upload(UploadAttachment(VENDOR, BytesSource(corpus.minimal_pdf(), "a.pdf")))
    source = BytesSource(corpus.minimal_pdf(), "a.pdf")
    with pytest.raises(TooManyUploads):
        await world.upload(UploadAttachment(VENDOR, source))
    assert not source.received
    await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))  # per user


async def test_a_refused_file_stores_nothing_and_still_counts():
    world = make_world(burst=1)
    with pytest.raises(UnsupportedMedia):
        await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.HTML_PAGE, "x.png")))
    assert await world.attachments.by_uploader(CUSTOMER, 10) == []
    with pytest.raises(TooManyUploads):
        await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))


async def test_bytes_are_removed_when_the_metadata_cannot_be_stored():
    world = make_world(FailingAdds())
    with pytest.raises(StorageUnavailable):
        await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    assert world.store._blobs == {}


async def test_a_signed_read_returns_the_bytes_and_anything_else_is_denied(world: World):
    attachment = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    found = await world.read(world.grant(attachment.id, THUMB, CUSTOMER))
    assert found.attachment == attachment and found.media.mime == "image/jpeg"
    good = world.grant(attachment.id, ORIGINAL, CUSTOMER)
    for changed in (attrs.evolve(good, viewer=STRANGER), attrs.evolve(good, variant=THUMB),
                    attrs.evolve(good, grant=attrs.evolve(good.grant, expires_at=good.grant.expires_at + 1)),
                    attrs.evolve(good, grant=attrs.evolve(good.grant, signature="0" * 64))):
        with pytest.raises(MediaAccessDenied):
            await world.read(changed)
    world.now[0] += 601
    with pytest.raises(MediaAccessDenied):
        await world.read(good)


async def test_before_it_is_sent_only_the_uploader_sees_it_after_the_participants_do(world: World):
    attachment = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    with pytest.raises(MediaAccessDenied):  # a correctly signed URL, but not yet theirs
        await world.read(world.grant(attachment.id, ORIGINAL, VENDOR))
    await world.attachments.claim([attachment.id], CUSTOMER, MESSAGE)
    assert (await world.read(world.grant(attachment.id, ORIGINAL, VENDOR))).media.data


async def test_unknown_deleted_and_missing_variants_are_not_found(world: World):
    pdf = await world.upload(UploadAttachment(VENDOR, BytesSource(corpus.minimal_pdf(), "i.pdf")))
    with pytest.raises(AttachmentNotFound):
        await world.read(world.grant(pdf.id, THUMB, VENDOR))
    with pytest.raises(AttachmentNotFound):
        await world.read(world.grant("f" * 24, ORIGINAL, VENDOR))
    await world.attachments.claim([pdf.id], VENDOR, MESSAGE)
    assert await world.delete(DeleteAttachments(message_id=MESSAGE)) == 1
    with pytest.raises(AttachmentNotFound):
        await world.read(world.grant(pdf.id, ORIGINAL, VENDOR))
    assert await world.store.get(pdf.id, ORIGINAL) is None
    assert await world.delete(DeleteAttachments(message_id=MESSAGE)) == 0


async def test_the_sweep_removes_old_unsent_uploads_only(world: World):
    old = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    sent = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    await world.attachments.claim([sent.id], CUSTOMER, MESSAGE)
    world.clock.advance(3000)
    fresh = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    world.clock.advance(601)
    assert await world.sweep(SweepUnattached()) == 1
    assert await world.attachments.get(old.id) is None
    assert await world.store.get(old.id, THUMB) is None
    for kept in (sent, fresh):
        assert await world.attachments.get(kept.id) is not None
        assert await world.store.get(kept.id, ORIGINAL) is not None
    assert await world.sweep(SweepUnattached()) == 0


class ClaimsDuringTheSweep(InMemoryAttachmentRepository):
    """Attaches every listed upload between the sweep's listing and its marking."""

    async def unattached_before(self, cutoff: datetime, limit: int) -> list[Attachment]:
        found = await super().unattached_before(cutoff, limit)
        for attachment in found:
            await self.claim([attachment.id], attachment.uploader, MESSAGE)
        return found


async def test_an_upload_sent_while_the_sweep_runs_is_kept():
    world = make_world(ClaimsDuringTheSweep())
    upload = await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
    world.clock.advance(7200)
    assert await world.sweep(SweepUnattached()) == 0
    assert await world.store.get(upload.id, ORIGINAL) is not None


async def test_erasing_a_user_deletes_everything_they_uploaded(world: World):
    mine = [await world.upload(UploadAttachment(CUSTOMER, BytesSource(corpus.jpeg())))
            for _ in range(3)]
    theirs = await world.upload(UploadAttachment(VENDOR, BytesSource(corpus.jpeg())))
    await world.attachments.claim([mine[0].id], CUSTOMER, MESSAGE)
    assert await world.delete(DeleteAttachments(uploader=CUSTOMER)) == 3
    assert await world.attachments.by_uploader(CUSTOMER, 10) == []
    assert all([await world.store.get(a.id, ORIGINAL) is None for a in mine])
    assert await world.delete(DeleteAttachments(attachment_ids=(theirs.id, "bad"))) == 1
    assert await world.store.get(theirs.id, ORIGINAL) is None


def test_delete_attachments_names_exactly_one_target():
    with pytest.raises(ValueError):
        DeleteAttachments()
    with pytest.raises(ValueError):
        DeleteAttachments(message_id=MESSAGE, uploader=CUSTOMER)
