"""One contract suite for every ``MediaStore`` (application/media.py): files on disk, GridFS
on SecantusDB, and the in-memory store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from motor.motor_asyncio import AsyncIOMotorClient

from chat_server.adapters.media.fs import FsMediaStore
from chat_server.adapters.memory.attachments import InMemoryMediaStore
from chat_server.adapters.mongo.gridfs import GridFSMediaStore
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.application.media import MediaStore, StoredMedia
from chat_server.domain.media import Variant

IDS = ObjectIdGenerator()
ORIGINAL, THUMB = Variant.ORIGINAL, Variant.THUMB
MALFORMED_IDS = ["", "..", "../../etc/passwd", "0" * 23, "A" * 24, "zz" * 12, "a/b" + "0" * 21]


@pytest_asyncio.fixture
async def gridfs_store(
    mongo_client: AsyncIOMotorClient[Any], mongo_database_name: str
) -> AsyncIterator[GridFSMediaStore]:
    yield GridFSMediaStore(mongo_client[mongo_database_name])
    await mongo_client.drop_database(mongo_database_name)


@pytest.fixture(params=["fs", "gridfs", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "fs":
        fs = FsMediaStore(tmp_path / "media")
        fs.prepare()
        return fs
    if request.param == "memory":
        return InMemoryMediaStore()
    gridfs: MediaStore = request.getfixturevalue("gridfs_store")
    return gridfs


async def test_a_stored_variant_comes_back_with_its_type(store: MediaStore):
    media_id = IDS.new_id()
    await store.put(media_id, ORIGINAL, b"\xff\xd8 the photo", "image/jpeg")
    await store.put(media_id, THUMB, b"\xff\xd8 small", "image/jpeg")
    assert await store.get(media_id, ORIGINAL) == StoredMedia(b"\xff\xd8 the photo", "image/jpeg")
    assert await store.get(media_id, THUMB) == StoredMedia(b"\xff\xd8 small", "image/jpeg")


async def test_unknown_and_malformed_ids_have_nothing(store: MediaStore):
    assert await store.get(IDS.new_id(), ORIGINAL) is None
    for bad in MALFORMED_IDS:
        assert await store.get(bad, ORIGINAL) is None
        await store.delete(bad)  # no error, nothing happens


async def test_a_malformed_id_or_a_type_that_is_never_served_cannot_be_stored(store: MediaStore):
    for bad in MALFORMED_IDS:
        with pytest.raises(ValueError):
            await store.put(bad, ORIGINAL, b"x", "image/png")
    for mime in ("text/html", "image/svg+xml", "image/gif", "application/octet-stream"):
        with pytest.raises(ValueError):
            await store.put(IDS.new_id(), ORIGINAL, b"<html>", mime)


async def test_putting_again_replaces_the_variant_even_with_another_type(store: MediaStore):
    media_id = IDS.new_id()
    await store.put(media_id, ORIGINAL, b"first", "image/jpeg")
    await store.put(media_id, ORIGINAL, b"second", "image/png")
    assert await store.get(media_id, ORIGINAL) == StoredMedia(b"second", "image/png")


async def test_delete_removes_every_variant_and_is_idempotent(store: MediaStore):
    kept, gone = IDS.new_id(), IDS.new_id()
    for media_id in (kept, gone):
        await store.put(media_id, ORIGINAL, b"o", "image/webp")
        await store.put(media_id, THUMB, b"t", "image/webp")
    await store.delete(gone)
    await store.delete(gone)
    assert await store.get(gone, ORIGINAL) is None and await store.get(gone, THUMB) is None
    assert await store.get(kept, THUMB) == StoredMedia(b"t", "image/webp")


async def test_large_blobs_survive_intact(store: MediaStore):
    media_id = IDS.new_id()
    data = os.urandom(5 * 2**20 + 123)  # several GridFS chunks, an odd tail
    await store.put(media_id, ORIGINAL, data, "application/pdf")
    assert await store.get(media_id, ORIGINAL) == StoredMedia(data, "application/pdf")


async def test_a_reader_sees_the_old_bytes_or_the_new_ones_never_a_mix(store: MediaStore):
    media_id = IDS.new_id()
    old, new = b"a" * 600_000, b"b" * 600_000
    await store.put(media_id, ORIGINAL, old, "image/png")

    async def read_while_writing() -> set[bytes]:
        seen = set()
        for _ in range(20):
            found = await store.get(media_id, ORIGINAL)
            if found is not None:
                seen.add(found.data)
        return seen

    seen, _ = await asyncio.gather(read_while_writing(), store.put(media_id, ORIGINAL, new,
                                                                    "image/png"))
    assert seen <= {old, new}
    assert (await store.get(media_id, ORIGINAL)) == StoredMedia(new, "image/png")


def test_files_live_under_the_media_directory_named_by_id_only(tmp_path: Path):
    store = FsMediaStore(tmp_path / "media")
    store.prepare()
    media_id = IDS.new_id()
    asyncio.run(store.put(media_id, THUMB, b"x", "image/jpeg"))
    files = [p.relative_to(tmp_path / "media") for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert [str(f) for f in files] == [f"{media_id[-2:]}/{media_id}/thumb.jpg"]
    assert oct((tmp_path / "media").stat().st_mode & 0o777) == "0o700"
