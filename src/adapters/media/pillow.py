"""``PillowMediaProcessor``: uploads decoded by content, checked, and re-encoded.

Images (JPEG, PNG, WebP, GIF) are decoded and encoded again, so no byte of the upload is
ever served: the pixel count is checked from the header before anything is decoded, EXIF
orientation is applied, colours are converted to sRGB, every metadata block (EXIF, GPS,
XMP, ICC, comments, text chunks) is left behind, the longest side is brought down to
``MediaLimits.max_side`` and a thumbnail of ``thumb_side`` is made. GIFs and animated
WebP/PNG keep their first frame only (a still, stored as PNG for GIF): a frame cap would
still let one upload cost N decodes, and chat photos are stills. PDFs are checked
(``pdf.check_pdf``) and kept as uploaded.

The work runs in worker processes (``pool.MediaWorkerPool``): decoding is CPU-bound and
partly in Python, and a process can be given a memory ceiling and be lost without taking
the service with it.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageCms, ImageOps

from chat_server.adapters.media.content import refuse_polyglots
from chat_server.adapters.media.pdf import check_pdf
from chat_server.adapters.media.pool import MediaWorkerPool
from chat_server.application.media import ProcessedMedia
from chat_server.domain.media import (
    STORED_MIMES,
    MediaFormat,
    MediaKind,
    MediaLimits,
    MediaTooLarge,
    UnsupportedMedia,
    clean_name,
    describe_size,
    sniff,
)

# Accepted format -> (Pillow format it is stored in, MIME type).
_OUTPUT = {
    MediaFormat.JPEG: ("JPEG", "image/jpeg"),
    MediaFormat.PNG: ("PNG", "image/png"),
    MediaFormat.GIF: ("PNG", "image/png"),
    MediaFormat.WEBP: ("WEBP", "image/webp"),
}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 85},
    # Level 3: half the time of the default 6 on photo-like pixels, a few % larger.
    "PNG": {"compress_level": 3},
    "WEBP": {"quality": 85, "method": 4},
}
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# What a broken file makes Pillow raise, for the formats above.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  KeyError, TypeError, ZeroDivisionError)
_srgb: ImageCms.ImageCmsProfile | None = None


def process_upload(data: bytes, filename: str, limits: MediaLimits) -> ProcessedMedia:
    """The whole job, synchronous: run it in a worker, never on the event loop."""
    fmt = sniff(data[:16])
    if fmt is None:
        raise UnsupportedMedia("The file is not a JPEG, PNG, WebP or GIF image or a PDF")
    limit = limits.max_bytes_for(fmt)
    if len(data) > limit:
        kind = "PDFs" if fmt is MediaFormat.PDF else "Images"
        raise MediaTooLarge(f"{kind} may be at most {describe_size(limit)}")
    refuse_polyglots(data)
    if fmt is MediaFormat.PDF:
        check_pdf(data)
        return ProcessedMedia(MediaKind.FILE, "application/pdf", data, clean_name(filename, "pdf"))
    return _process_image(data, fmt, filename, limits)


def _process_image(data: bytes, fmt: MediaFormat, filename: str, limits: MediaLimits
                   ) -> ProcessedMedia:
    pillow_format, mime = _OUTPUT[fmt]
    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # Pillow's own guard, on top of the one below
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _decode(data, fmt, limits)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
            raise MediaTooLarge(
                f"Images may be at most {limits.max_pixels / 1e6:g} megapixels") from None
        except _DECODE_ERRORS:
            raise UnsupportedMedia(
                f"The file is not a valid {fmt.value} image (damaged or truncated)") from None
    image = _upright(image)
    image = _srgb_pixels(image, keep_alpha=pillow_format != "JPEG")
    image.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS,
                    reducing_gap=3.0)
    thumb = image.copy()
    thumb.thumbnail((limits.thumb_side, limits.thumb_side), Image.Resampling.LANCZOS,
                    reducing_gap=3.0)
    return ProcessedMedia(
        MediaKind.IMAGE, mime, _encode(image, pillow_format),
        clean_name(filename, STORED_MIMES[mime]), width=image.width, height=image.height,
        thumbnail=_encode(thumb, pillow_format),
    )


def _decode(data: bytes, fmt: MediaFormat, limits: MediaLimits) -> Image.Image:
    """Open by content with that format's decoder only; pixels are counted from the header
    before a single one is decoded."""
    image = Image.open(io.BytesIO(data), formats=[fmt.value])
    width, height = image.size
    if width < 1 or height < 1:
        raise UnsupportedMedia("The image has no pixels")
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"Images may be at most {limits.max_pixels / 1e6:g} megapixels "
            f"(this one has {width * height / 1e6:.0f})")
    if fmt is MediaFormat.JPEG and max(width, height) > 2 * limits.max_side:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, no smaller than the stored size.
        scale = limits.max_side / max(width, height)
        image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
    image.load()  # the first frame only: seek() is never called
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation to the pixels (the tag itself is dropped with all
    metadata). A broken EXIF block orients nothing."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        return image


def _srgb_pixels(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """8-bit L, RGB or RGBA pixels in sRGB; an embedded ICC profile is applied, then gone."""
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    target = "RGBA" if has_alpha and keep_alpha else "L" if image.mode in ("1", "L") else "RGB"
    icc = image.info.get("icc_profile")
    if icc and target != "L" and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _srgb_profile(),
                outputMode=target)
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a profile that does not load is ignored, like a browser does
    if image.mode == "P" and target == "RGB" and has_alpha:
        image = image.convert("RGBA")  # flatten transparency before dropping alpha
    return image.convert(target) if image.mode != target else image


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    global _srgb
    if _srgb is None:
        _srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _srgb


def _encode(image: Image.Image, pillow_format: str) -> bytes:
    """Encode the pixels alone: ``info`` is emptied so that nothing read from the upload
    (comments, XMP, ICC, text chunks, transparency keys) can be written back."""
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, pillow_format, **_SAVE_OPTIONS[pillow_format])
    encoded = buffer.getvalue()
    _assert_clean(encoded, pillow_format)
    return encoded


def _assert_clean(encoded: bytes, pillow_format: str) -> None:
    """What was written carries no metadata (reads headers only, not the pixels)."""
    with Image.open(io.BytesIO(encoded), formats=[pillow_format]) as check:
        leftovers = {"exif", "xmp", "icc_profile", "comment", "XML:com.adobe.xmp"} & set(check.info)
        if leftovers or check.getexif():
            raise RuntimeError(f"re-encoded image still carries {sorted(leftovers) or 'EXIF'}")


class PillowMediaProcessor:
    """``MediaProcessor`` on a ``MediaWorkerPool``: ``await start()`` before the first
    upload, ``await stop()`` at shutdown (or ``open_pillow_processor``)."""

    def __init__(self, limits: MediaLimits, pool: MediaWorkerPool) -> None:
        self._limits = limits
        self._pool = pool

    async def start(self) -> None:
        await self._pool.start()

    async def stop(self) -> None:
        await self._pool.stop()

    async def process(self, data: bytes, filename: str) -> ProcessedMedia:
        result: ProcessedMedia = await self._pool.run(process_upload, data, filename, self._limits)
        return result


@asynccontextmanager
async def open_pillow_processor(
    limits: MediaLimits, workers: int, max_waiting: int, processes: bool = True
) -> AsyncIterator[PillowMediaProcessor]:
    """The processor as a resource (a dependency-injector ``Resource`` can wrap this)."""
    processor = PillowMediaProcessor(limits, MediaWorkerPool(workers, max_waiting, processes))
    await processor.start()
    try:
        yield processor
    finally:
        await processor.stop()


if TYPE_CHECKING:  # mypy proves here that the adapter conforms to the port structurally
    from chat_server.application.media import MediaProcessor

    _processor: MediaProcessor = PillowMediaProcessor(MediaLimits(), MediaWorkerPool(1, 1))
