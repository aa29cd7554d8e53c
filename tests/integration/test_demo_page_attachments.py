"""The demo page's attachments (docs/attachments.md, PROTOCOL.md section 10): a real
Chromium picks a photo and a PDF with the paperclip, they upload over HTTP and show as
removable chips, the send carries their ids, and the other user's page shows the photo's
thumbnail (which opens the full image in a lightbox) and the PDF as a card that downloads
it; uploads the server refuses (too large, not a photo or a PDF) show a notice, and a
refused send gives its attachments back. Driven against a real ``chat-server`` process
with a small image limit, so that an oversize photo is quick to make.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import media_corpus as corpus
import pytest
from demo_support import browser, composer, open_demo_page, running_server, save_screenshot
from PIL import Image, ImageDraw, ImageFilter
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # a fixture

IMAGE_LIMIT_BYTES = 256 * 1024  # CHAT_MEDIA_MAX_BYTES of this server
PHOTO_SIZE = (640, 480)
OVERSIZE_PHOTO_SIZE = (1200, 900)  # about 350 KB: over it
THUMBNAIL_MAX_PX = 320  # the server's thumbnails (SERVER_API.md section 4)
# Chromium's network emulation, in bytes per second: the close-up (about 100 KB) then takes
# about 5 s to upload, so that its progress (and a send waiting for it) can be seen.
SLOW_UPLOAD_BPS = 20_000
# The oversize photo is refused after the limit, 256 KB: within about 3 s at this rate.
REFUSED_UPLOAD_BPS = 100_000
SCREENSHOT = "demo-attachments.png"


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path, CHAT_MEDIA_MAX_BYTES=str(IMAGE_LIMIT_BYTES)) as url:
        yield url


def _damaged_box(width: int, height: int) -> bytes:
    """A drawn photo of a parcel with a crushed corner (what docs/demo-attachments.png shows)."""
    light = Image.linear_gradient("L").resize((width, height)).point(lambda v: 150 + v // 3)
    image = Image.merge("RGB", (light, light.point(lambda v: v - 12), light.point(lambda v: v - 30)))
    draw = ImageDraw.Draw(image)

    def polygon(points: list[tuple[float, float]], fill: tuple[int, int, int]) -> None:
        draw.polygon([(x * width, y * height) for x, y in points], fill=fill)

    polygon([(0.22, 0.38), (0.70, 0.42), (0.68, 0.86), (0.20, 0.82)], (176, 128, 78))  # front
    polygon([(0.22, 0.38), (0.40, 0.22), (0.84, 0.25), (0.70, 0.42)], (201, 152, 98))  # top
    polygon([(0.70, 0.42), (0.84, 0.25), (0.82, 0.66), (0.68, 0.86)], (140, 98, 58))  # side
    polygon([(0.43, 0.40), (0.52, 0.41), (0.66, 0.24), (0.58, 0.235)], (222, 206, 170))  # tape
    polygon([(0.70, 0.42), (0.60, 0.50), (0.66, 0.60), (0.76, 0.50)], (96, 64, 36))  # crushed
    draw.line([(0.60 * width, 0.50 * height), (0.52 * width, 0.58 * height),
               (0.47 * width, 0.70 * height)], fill=(70, 46, 26), width=4)
    noise = Image.effect_noise((width, height), 18).convert("RGB")
    return corpus.encode(Image.blend(image.filter(ImageFilter.GaussianBlur(1.2)), noise, 0.08),
                         "JPEG", quality=88)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Real files on disk, as a user would pick them."""
    made = {
        "damaged-box.jpg": _damaged_box(*PHOTO_SIZE),
        "close-up.jpg": corpus.jpeg(640, 480),
        "invoice-42.pdf": corpus.minimal_pdf(),
        "second-angle.jpg": corpus.jpeg(320, 240),
        "huge-photo.jpg": corpus.jpeg(*OVERSIZE_PHOTO_SIZE),
        "notes.png": b"<html><body>not a picture</body></html>",
    }
    folder = tmp_path / "picked"
    folder.mkdir()
    for name, content in made.items():
        (folder / name).write_bytes(content)
    assert len(made["huge-photo.jpg"]) > IMAGE_LIMIT_BYTES > len(made["close-up.jpg"])
    assert len(made["close-up.jpg"]) > 4 * SLOW_UPLOAD_BPS
    return {name: folder / name for name in made}


def _attach(page: Page, pane: Locator, *paths: Path) -> None:
    """Through the paperclip and the browser's file chooser, as a user does."""
    with page.expect_file_chooser() as chooser:
        pane.get_by_role("button", name="Attach photos or PDFs").click()
    assert chooser.value.is_multiple()
    chooser.value.set_files([str(path) for path in paths])


@contextmanager
def _slow_uploads(page: Page, bytes_per_second: int) -> Iterator[None]:
    """Uploads from ``page`` at this rate (Chromium's DevTools network emulation)."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": bytes_per_second})
    try:
        yield
    finally:
        session.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        session.detach()


def _chips(pane: Locator) -> Locator:
    return pane.get_by_role("list", name="Attachments to send").locator("li.upload")


def _loaded(image: Locator) -> None:
    """The browser has decoded the image's bytes (a broken or refused URL never is)."""
    expect(image).to_be_visible()
    image.page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=image.element_handle())


def _natural_size(image: Locator) -> tuple[int, int]:
    width, height = image.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    return int(width), int(height)


def test_a_photo_and_a_pdf_attached_in_the_demo_page_reach_the_other_user(
    server_url: str, browser: Browser, files: dict[str, Path]
) -> None:
    page, errors = open_demo_page(browser, server_url)
    try:
        _photo_and_pdf(page, files)
        assert errors == [], f"uncaught errors in the page: {errors}"
    except BaseException:
        save_screenshot(page, "demo-attachments-failure.png")
        raise
    finally:
        page.close()


def _photo_and_pdf(page: Page, files: dict[str, Path]) -> None:
    customer = page.get_by_role("region", name="Customer 1")
    vendor = page.get_by_role("region", name="Vendor 1")
    composer(customer).fill("Hello, my order arrived damaged")
    composer(customer).press("Enter")
    vendor.locator("button.chat-item").filter(has_text="Wireless Headphones").click()
    expect(vendor.locator("li.message.theirs", has_text="arrived damaged")).to_be_visible()

    # Three files picked at once: each uploads and becomes a chip, the photos with a preview.
    _attach(page, customer, files["damaged-box.jpg"], files["invoice-42.pdf"],
            files["second-angle.jpg"])
    chips = _chips(customer)
    expect(chips).to_have_count(3)
    for name in ("damaged-box.jpg", "invoice-42.pdf", "second-angle.jpg"):
        expect(chips.filter(has_text=name)).to_have_attribute("data-state", "ready")
    _loaded(chips.filter(has_text="damaged-box.jpg").locator("img"))
    expect(chips.filter(has_text="invoice-42.pdf")).to_contain_text("PDF")
    expect(chips.filter(has_text="invoice-42.pdf")).to_contain_text(
        f"{len(files['invoice-42.pdf'].read_bytes())} B")
    # One is removed before the send: it is not sent.
    customer.get_by_role("button", name="Remove second-angle.jpg").click()
    expect(chips).to_have_count(2)

    composer(customer).fill("It arrived like this, see the photo and the invoice")
    composer(customer).press("Enter")
    expect(chips).to_have_count(0)
    mine = customer.locator("li.message.mine", has_text="It arrived like this")
    expect(mine.locator(".tick")).not_to_have_attribute("data-tick", "pending")
    # The sender's copy (the ack, URLs signed for the sender) shows them too.
    _loaded(mine.locator("a.attachment-photo img"))
    expect(mine.locator("a.attachment-file")).to_contain_text("invoice-42.pdf")

    # The vendor's page: one thumbnail (not two: messageImages lists it as well) and a card.
    theirs = vendor.locator("li.message.theirs", has_text="It arrived like this")
    expect(theirs).to_be_visible()
    expect(theirs.locator("a.attachment-photo")).to_have_count(1)
    expect(theirs.locator(".images img")).to_have_count(0)
    thumbnail = theirs.locator("a.attachment-photo img")
    _loaded(thumbnail)
    assert max(_natural_size(thumbnail)) <= THUMBNAIL_MAX_PX
    expect(theirs.locator("a.attachment-photo")).to_have_attribute(
        "title", "damaged-box.jpg: click to enlarge")
    card = theirs.locator("a.attachment-file")
    expect(card).to_have_count(1)
    expect(card.locator(".file-name")).to_have_text("invoice-42.pdf")
    expect(card.locator(".file-size")).to_have_text(f" · {len(files['invoice-42.pdf'].read_bytes())} B")
    expect(card.locator(".file-badge")).to_have_text("PDF")

    # The card's link is the PDF itself, signed for the vendor, served as a download.
    href = card.get_attribute("href")
    assert href is not None
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.body() == files["invoice-42.pdf"].read_bytes()

    # The thumbnail opens the full image in a lightbox; Escape closes it.
    thumbnail.click()
    lightbox = vendor.get_by_role("dialog", name="Photo damaged-box.jpg")
    expect(lightbox).to_be_visible()
    full = lightbox.locator("img")
    _loaded(full)
    assert _natural_size(full) == PHOTO_SIZE
    expect(lightbox).to_contain_text("damaged-box.jpg")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    expect(theirs.locator("a.attachment-photo")).to_be_focused()
    # ...and so does a click on it.
    thumbnail.click()
    expect(lightbox).to_be_visible()
    full.click()
    expect(lightbox).to_be_hidden()

    # The customer adds a caption later: the edit keeps the attachments on both sides.
    mine.get_by_role("button", name="Edit message").click()
    composer(customer).fill("It arrived like this: the box is crushed")
    composer(customer).press("Enter")
    for pane in (customer, vendor):
        edited = pane.locator("li.message", has_text="the box is crushed")
        expect(edited.locator(".edited")).to_have_text("edited")
        expect(edited.locator("a.attachment-photo")).to_have_count(1)
        expect(edited.locator("a.attachment-file")).to_have_count(1)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    save_screenshot(page, SCREENSHOT)

    # On a slow line the chip shows the upload's progress; Enter meanwhile sends the photo
    # once it is up. The chat list then says what the last message carries (no text).
    with _slow_uploads(page, SLOW_UPLOAD_BPS):
        _attach(page, vendor, files["close-up.jpg"])
        uploading = _chips(vendor)
        expect(uploading).to_have_attribute("data-state", "uploading")
        expect(uploading.get_by_role("progressbar", name="Uploading close-up.jpg")).to_be_visible()
        composer(vendor).press("Enter")
        expect(vendor.locator("[data-ref=send]")).to_have_text("Uploading…")
        expect(vendor.locator("[data-ref=send]")).to_be_disabled()
        page.wait_for_function(
            "bar => bar.value > 0", arg=uploading.locator("progress").element_handle())
        expect(_chips(vendor)).to_have_count(0, timeout=30_000)
    expect(vendor.locator("[data-ref=send]")).to_have_text("Send")
    photo_only = customer.locator("li.message.theirs").filter(has=page.locator("a.attachment-photo"))
    expect(photo_only).to_have_count(1)
    _loaded(photo_only.locator("img"))
    expect(customer.locator("button.chat-item [data-role=preview]")).to_have_text("Photo")
    expect(vendor.locator("button.chat-item [data-role=preview]")).to_have_text("You: Photo")
    expect(page.locator(".notice")).to_have_count(0)


def test_refused_uploads_and_sends_show_a_notice_and_lose_nothing_on_the_demo_page(
    server_url: str, browser: Browser, files: dict[str, Path]
) -> None:
    page, errors = open_demo_page(browser, server_url)
    try:
        _refused(page, files)
        assert errors == [], f"uncaught errors in the page: {errors}"
    except BaseException:
        save_screenshot(page, "demo-attachments-refused-failure.png")
        raise
    finally:
        page.close()


def _refused(page: Page, files: dict[str, Path]) -> None:
    customer = page.get_by_role("region", name="Customer 1")
    vendor = page.get_by_role("region", name="Vendor 1")

    # Too large: a 413 notice that says so, and no chip is left to send.
    _attach(page, customer, files["huge-photo.jpg"])
    notice = customer.get_by_role("alert").filter(has_text="huge-photo.jpg")
    expect(notice).to_contain_text("413")
    expect(notice).to_contain_text("too large")
    expect(_chips(customer)).to_have_count(0)
    notice.get_by_role("button", name="Dismiss notice").click()

    # Not a photo, whatever its name says: a 415 notice.
    _attach(page, customer, files["notes.png"])
    notice = customer.get_by_role("alert").filter(has_text="notes.png")
    expect(notice).to_contain_text("415")
    expect(notice).to_contain_text("Unsupported file type")
    expect(_chips(customer)).to_have_count(0)

    # Enter while an upload is under way that the server then refuses: nothing is sent,
    # the text stays in the composer.
    with _slow_uploads(page, REFUSED_UPLOAD_BPS):
        _attach(page, customer, files["huge-photo.jpg"])
        expect(_chips(customer)).to_have_attribute("data-state", "uploading")
        composer(customer).fill("Here is the photo")
        composer(customer).press("Enter")
        expect(customer.locator("[data-ref=send]")).to_have_text("Uploading…")
        expect(customer.get_by_role("alert").filter(has_text="huge-photo.jpg")).to_contain_text(
            "413", timeout=30_000)
    expect(customer.locator("[data-ref=send]")).to_have_text("Send")
    expect(composer(customer)).to_have_value("Here is the photo")
    expect(customer.locator("li.message")).to_have_count(0)
    composer(customer).fill("")

    # A good file picked with them still goes through, and nothing refused was sent.
    _attach(page, customer, files["huge-photo.jpg"], files["invoice-42.pdf"])
    expect(_chips(customer)).to_have_count(1)
    expect(_chips(customer)).to_have_attribute("data-state", "ready")
    composer(customer).fill("Only the invoice, then")
    composer(customer).press("Enter")
    sent = vendor.locator("button.chat-item").filter(has_text="Wireless Headphones")
    sent.click()
    message = vendor.locator("li.message.theirs", has_text="Only the invoice")
    expect(message.locator("a.attachment-file")).to_have_count(1)
    expect(message.locator("a.attachment-photo")).to_have_count(0)
    expect(vendor.locator("li.message")).to_have_count(1)
    expect(vendor.get_by_role("alert")).to_have_count(0)

    # A send the server refuses (the customer blocked the vendor: 403) gives its chips
    # back, and the same upload goes with the send that follows the unblock.
    customer.get_by_role("button", name="Block Vendor 1").click()
    expect(composer(vendor)).to_have_attribute("placeholder", "You cannot message this user")
    _attach(page, vendor, files["invoice-42.pdf"])
    expect(_chips(vendor)).to_have_attribute("data-state", "ready")
    composer(vendor).press("Enter")
    expect(vendor.get_by_role("alert")).to_contain_text("403")
    expect(_chips(vendor)).to_have_count(1)
    expect(_chips(vendor)).to_have_attribute("data-state", "ready")
    customer.get_by_role("button", name="Unblock Vendor 1").click()
    expect(vendor.locator("[data-ref=blockState]")).to_be_hidden()
    composer(vendor).press("Enter")
    expect(_chips(vendor)).to_have_count(0)
    from_vendor = customer.locator("li.message.theirs").filter(has=page.locator("a.attachment-file"))
    expect(from_vendor.locator(".file-name")).to_have_text("invoice-42.pdf")
