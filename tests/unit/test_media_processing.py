"""What the processor makes of good files and refuses of bad ones (``process_upload``, the
job that runs in the media workers), on a corpus made by ``media_corpus``."""

from __future__ import annotations

import io
import time

import media_corpus as corpus
import pytest
from PIL import Image

from chat_server.adapters.media.pdf import check_pdf
from chat_server.adapters.media.pillow import process_upload
from chat_server.domain.media import MediaKind, MediaLimits, MediaTooLarge, UnsupportedMedia

LIMITS = MediaLimits()
METADATA_KEYS = {"exif", "xmp", "icc_profile", "comment", "Comment", "XML:com.adobe.xmp", "dpi"}


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_no_metadata(data: bytes) -> None:
    image = reopen(data)
    assert not image.getexif(), "EXIF left in the output"
    assert not METADATA_KEYS & set(image.info), image.info
    if data.startswith(b"\xff\xd8"):
        # Frame, tables, scan and libjpeg's JFIF header (APP0, no thumbnail): no APP1-15
        # (EXIF, XMP, ICC, Adobe ...) and no COM segment.
        markers = corpus.jpeg_markers(data)
        assert all(not 0xE1 <= m <= 0xEF and m != 0xFE for m in markers), markers
        assert data[6:11] == b"JFIF\x00" and data[18:20] == b"\x00\x00"
    if data.startswith(b"\x89PNG"):
        assert set(corpus.png_chunks(data)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def test_a_phone_photo_loses_its_gps_exif_xmp_icc_and_comment_and_keeps_its_pixels():
    upload = corpus.jpeg_with_gps()
    assert reopen(upload).getexif().get_ifd(0x8825), "the test photo must carry GPS"
    result = process_upload(upload, "IMG_0001.JPG", LIMITS)
    assert result.kind is MediaKind.IMAGE and result.mime == "image/jpeg"
    assert (result.width, result.height) == (800, 600) and result.name == "IMG_0001.jpg"
    assert_no_metadata(result.data)
    assert result.thumbnail is not None
    assert_no_metadata(result.thumbnail)
    assert not reopen(result.data).getexif().get_ifd(0x8825)
    assert b"PhoneMaker" not in result.data and b"Paris" not in result.data
    assert result.data != upload


def test_a_rotated_photo_is_stored_upright():
    result = process_upload(corpus.rotated_jpeg(), "rotated.jpg", LIMITS)
    image = reopen(result.data).convert("RGB")
    assert (image.width, image.height) == (200, 400)
    top, bottom = image.getpixel((100, 50)), image.getpixel((100, 350))
    assert top[0] > 150 and top[2] < 100, f"the red half must be on top, got {top}"
    assert bottom[2] > 150 and bottom[0] < 100


def test_a_large_photo_is_brought_down_to_2048_px_without_cropping_and_gets_a_thumbnail():
    result = process_upload(corpus.jpeg(4000, 1000), "wide.jpg", LIMITS)
    assert (result.width, result.height) == (2048, 512)
    assert result.thumbnail is not None
    assert reopen(result.thumbnail).size == (320, 80)


@pytest.mark.parametrize(("make", "mime", "name"), [
    (corpus.png_with_text, "image/png", "shot.png"),
    (corpus.webp, "image/webp", "shot.webp"),
    (corpus.animated_gif, "image/png", "shot.png"),
])
def test_png_webp_and_gif_are_re_encoded_without_metadata(make, mime, name):
    result = process_upload(make(), "shot.any", LIMITS)
    assert result.mime == mime and result.name == name
    assert_no_metadata(result.data)
    assert getattr(reopen(result.data), "n_frames", 1) == 1  # a GIF keeps its first frame


def test_png_transparency_survives_re_encoding():
    result = process_upload(corpus.png_with_text(), "alpha.png", LIMITS)
    assert reopen(result.data).mode == "RGBA"


@pytest.mark.parametrize(("data", "says"), [
    (corpus.HTML_PAGE, "not a JPEG, PNG, WebP or GIF"),
    (corpus.SVG_WITH_SCRIPT, "not a JPEG, PNG, WebP or GIF"),
    (b"", "not a JPEG"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), "not a valid PNG"),
])
def test_markup_named_like_an_image_and_garbage_are_unsupported(data, says):
    with pytest.raises(UnsupportedMedia, match=says):
        process_upload(data, "photo.png", LIMITS)


def test_a_truncated_jpeg_is_unsupported():
    whole = corpus.jpeg(640, 480)
    with pytest.raises(UnsupportedMedia, match="damaged or truncated"):
        process_upload(whole[: len(whole) // 2], "cut.jpg", LIMITS)


def test_a_png_bomb_is_refused_from_its_header_before_decoding():
    bomb = corpus.png_bomb(30_000)
    assert len(bomb) < 2 * 2**20
    started = time.perf_counter()
    with pytest.raises(MediaTooLarge, match="40 megapixels"):
        process_upload(bomb, "bomb.png", LIMITS)
    assert time.perf_counter() - started < 1.0, "it must not have decoded 900 megapixels"


def test_an_image_over_the_byte_limit_is_too_large():
    with pytest.raises(MediaTooLarge, match="Images may be at most 10 KB"):
        process_upload(corpus.jpeg(640, 480), "big.jpg", MediaLimits(max_image_bytes=10_000))


@pytest.mark.parametrize(("make", "says"), [
    (corpus.gif_html_polyglot, "HTML or script"),
    (corpus.jpeg_zip_polyglot, "archive"),
])
def test_polyglots_are_unsupported(make, says):
    with pytest.raises(UnsupportedMedia, match=says):
        process_upload(make(), "poly.gif", LIMITS)


def test_a_minimal_real_pdf_is_kept_as_uploaded_as_a_file():
    upload = corpus.minimal_pdf()
    result = process_upload(upload, "Invoice 42.PDF", LIMITS)
    assert result.kind is MediaKind.FILE and result.mime == "application/pdf"
    assert result.data == upload and result.thumbnail is None and result.width is None
    assert result.name == "Invoice 42.pdf"


@pytest.mark.parametrize(("make", "says"), [
    (corpus.pdf_with_javascript, "/JavaScript"),
    (lambda: corpus.pdf_with_javascript(b"/J#61vaScript"), "/JavaScript"),
    (corpus.pdf_with_javascript_in_object_stream, "/JavaScript"),
    (corpus.pdf_with_launch_action, "/Launch"),
    (corpus.encrypted_pdf, "Encrypted"),
    (corpus.pdf_after_html, "not a JPEG"),
    (lambda: corpus.minimal_pdf()[:-200], "truncated"),
])
def test_active_encrypted_truncated_or_prefixed_pdfs_are_unsupported(make, says):
    with pytest.raises(UnsupportedMedia, match=says):
        process_upload(make(), "invoice.pdf", LIMITS)


def test_a_pdf_over_its_limit_is_too_large_while_an_image_limit_does_not_apply_to_it():
    upload = corpus.minimal_pdf()
    limits = MediaLimits(max_image_bytes=100, max_pdf_bytes=len(upload))
    assert process_upload(upload, "a.pdf", limits).data == upload
    with pytest.raises(MediaTooLarge, match="PDFs may be at most"):
        process_upload(upload, "a.pdf", MediaLimits(max_pdf_bytes=len(upload) - 1))


def test_the_pdf_scanner_does_not_mistake_stream_data_for_names():
    # "/JS" inside (uncompressed) page content is drawing data, not an action.
    content = corpus._stream(b"", b"BT /JS 12 Tf (x) Tj ET")
    objects = [*corpus._PAGE_OBJECTS[:3], content, corpus._PAGE_OBJECTS[4]]
    check_pdf(corpus.pdf(objects))
