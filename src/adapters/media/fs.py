"""Attachment bytes as files under one directory (``CHAT_MEDIA_DIR``), for a single node.

Layout: ``<root>/<last 2 hex digits of the id>/<id>/<variant>.<ext>``, e.g.
``media/3f/65a1...3f/thumb.jpg``. Every path component comes from a validated id (24
lowercase hex digits), a ``Variant`` and the fixed extension of a stored type: nothing a
client wrote ever reaches a path, so there is no traversal to guard against beyond that
check. The type is kept as the extension (``STORED_MIMES``), so serving needs no sidecar.

Writes go to a temporary file in the same directory, are flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX): a reader sees the old file or the new
one. File work runs in a thread (``asyncio.to_thread``) so the event loop never waits on
the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from chat_server.application.media import StoredMedia
from chat_server.domain.media import STORED_MIMES, Variant, is_media_id

_MIME_OF_EXTENSION = {ext: mime for mime, ext in STORED_MIMES.items()}


class FsMediaStore:
    def __init__(self, root: str | Path) -> None:
        self._root = Path(root).resolve()

    def prepare(self) -> None:
        """Create the directory (owner-only) at start-up; fails loudly if it cannot."""
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _folder(self, media_id: str) -> Path | None:
        if not is_media_id(media_id):
            return None
        return self._root / media_id[-2:] / media_id

    async def put(self, media_id: str, variant: Variant, data: bytes, mime: str) -> None:
        folder = self._folder(media_id)
        extension = STORED_MIMES.get(mime)
        if folder is None or extension is None or not isinstance(variant, Variant):
            raise ValueError(f"cannot store {media_id!r} / {variant!r} as {mime!r}")
        await asyncio.to_thread(self._write, folder, variant, extension, data)

    def _write(self, folder: Path, variant: Variant, extension: str, data: bytes) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, folder / f"{variant.value}.{extension}")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # Another type of the same variant (a replaced upload) must not shadow this one.
        for other in _MIME_OF_EXTENSION:
            if other != extension:
                (folder / f"{variant.value}.{other}").unlink(missing_ok=True)

    async def get(self, media_id: str, variant: Variant) -> StoredMedia | None:
        folder = self._folder(media_id)
        if folder is None:
            return None
        return await asyncio.to_thread(self._read, folder, variant)

    @staticmethod
    def _read(folder: Path, variant: Variant) -> StoredMedia | None:
        for extension, mime in _MIME_OF_EXTENSION.items():
            try:
                return StoredMedia((folder / f"{variant.value}.{extension}").read_bytes(), mime)
            except FileNotFoundError:
                continue
            except NotADirectoryError:
                return None
        return None

    async def delete(self, media_id: str) -> None:
        folder = self._folder(media_id)
        if folder is not None:
            await asyncio.to_thread(_remove, folder)


def _remove(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # never stored, or removed meanwhile
        shutil.rmtree(folder)


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.media import MediaStore

    _store: MediaStore = FsMediaStore("media")
