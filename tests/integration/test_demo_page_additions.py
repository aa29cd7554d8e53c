"""The demo page shows what the second release added (PROTOCOL.md section 10): system
messages from the server API, the unread total, edits, masked contact details, blocking and
reports; driven in headless Chromium against a real `chat-server` process started with
CHAT_CONTACT_FILTER=mask and a known server API key. `make screenshot` takes docs/demo.png
from the first scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_support import (
    api_request,
    browser,
    composer,
    open_demo_page,
    running_server,
    save_screenshot,
)
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # a fixture

API_KEY = "demo-page-test-key-0123456789abcdefghijkl"
# The page's own centring, measured in CSS pixels (borders and rounding aside).
CENTRED_WITHIN_PX = 3


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path, CHAT_CONTACT_FILTER="mask", CHAT_API_KEYS=API_KEY) as url:
        yield url


def _send(pane: Locator, text: str) -> None:
    composer(pane).fill(text)
    composer(pane).press("Enter")
    expect(pane.locator("li.message.mine", has_text=text).locator(".tick")).not_to_have_attribute(
        "data-tick", "pending"
    )


def _total(pane: Locator) -> Locator:
    return pane.locator("[data-ref=totalUnread]")


def _assert_centred(note: Locator, pane: Locator) -> None:
    box = note.bounding_box()
    frame = pane.locator("[data-ref=messageList]").bounding_box()
    assert box is not None and frame is not None
    middle, frame_middle = box["x"] + box["width"] / 2, frame["x"] + frame["width"] / 2
    assert abs(middle - frame_middle) <= CENTRED_WITHIN_PX, (box, frame)
    assert box["width"] < frame["width"] * 0.9, "a note, not a full-width bubble"


def test_system_messages_unread_totals_edits_and_masked_text_show_on_the_demo_page(
    server_url: str, browser: Browser
) -> None:
    page, errors = open_demo_page(browser, server_url)
    try:
        _system_unread_edit_masked(page, server_url)
        assert errors == [], f"uncaught errors in the page: {errors}"
        # Leave no focus ring in the screenshot of the docs.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        save_screenshot(page, "demo.png")
    except BaseException:
        save_screenshot(page, "demo-additions-failure.png")
        raise
    finally:
        page.close()


def _system_unread_edit_masked(page: Page, url: str) -> None:
    customer = page.get_by_role("region", name="Customer 1")
    vendor = page.get_by_role("region", name="Vendor 1")
    for pane in (customer, vendor):
        expect(_total(pane)).to_have_text("No unread")

    # The customer writes: the vendor's header counts it, the customer's does not.
    _send(customer, "Hi! Are these still available?")
    expect(_total(vendor)).to_have_text("1 unread")
    expect(_total(customer)).to_have_text("No unread")

    # The backend makes the vendor's name trusted: chatUpdated shows it to the customer.
    status, body = api_request(url, "PUT", "/api/v1/users/vendor/1", API_KEY,
                               {"name": "Tech Haven"})
    assert status == 200, body
    expect(customer.locator("[data-ref=counterpart]")).to_have_text("with Tech Haven (Vendor 1)")

    # The backend posts a system message over HTTP: unread for the vendor (chat not open),
    # read at once by the customer (chat open); centred, with no ticks and no actions.
    chat_id = page.evaluate("window.chatDemo.panes[0].activeChatId")
    status, body = api_request(url, "POST", f"/api/v1/chats/{chat_id}/messages", API_KEY,
                               {"text": "Payment received. Thank you!"})
    assert (status, body["data"]["senderType"], body["data"]["senderId"]) == (201, "SYSTEM", None)
    note = customer.locator("li.message.system", has_text="Payment received")
    expect(note).to_be_visible()
    expect(note.locator(".tick, button")).to_have_count(0)
    _assert_centred(note.locator(".system-note"), customer)
    expect(_total(vendor)).to_have_text("2 unread")
    chat_item = vendor.locator("button.chat-item").filter(has_text="Wireless Headphones")
    expect(chat_item.locator(".badge")).to_have_text("2")
    expect(chat_item.locator(".chat-preview.is-system")).to_have_text("Payment received. Thank you!")
    expect(_total(customer)).to_have_text("No unread")

    # The vendor opens the chat: the total goes back to none, the note shows there too.
    chat_item.click()
    expect(_total(vendor)).to_have_text("No unread")
    vendor_note = vendor.locator("li.message.system", has_text="Payment received")
    expect(vendor_note).to_be_visible()
    _assert_centred(vendor_note.locator(".system-note"), vendor)

    # The page's own backend control (development mode) posts one to the open chat.
    backend = page.locator("#backend")
    expect(backend).to_be_visible()
    backend.locator("summary").click()
    backend.get_by_label("Server API key").fill(API_KEY)
    backend.get_by_role("textbox", name="System message").fill(
        "Order #1042 has shipped. It should arrive on Thursday.")
    backend.get_by_role("button", name="Post a system message to this chat").click()
    expect(backend.get_by_role("status")).to_contain_text("Posted to Wireless Headphones")
    for pane in (customer, vendor):
        expect(pane.locator("li.message.system", has_text="Order #1042 has shipped")).to_be_visible()
    backend.locator("summary").click()

    # Contact details are masked by the server and shown as such on both sides.
    composer(customer).fill("Or call me on +1 555 123 4567 tonight")
    composer(customer).press("Enter")
    for pane in (customer, vendor):
        message = pane.locator("li.message", has_text="Or call me on")
        expect(message.locator(".masked")).to_have_count(1)
        expect(message.locator(".masked")).to_have_attribute("title", "contact details hidden")
        expect(message.locator(".text")).to_have_text("Or call me on hidden tonight")

    # The customer edits the first message: new text and an "edited" mark on both sides.
    composer(customer).fill("a draft")
    customer.locator("li.message.mine", has_text="Are these still available?").get_by_role(
        "button", name="Edit message").click()
    expect(composer(customer)).to_have_value("Hi! Are these still available?")
    expect(customer.get_by_role("button", name="Save")).to_be_visible()
    composer(customer).fill("Hi! Are these still available in black?")
    composer(customer).press("Enter")
    for pane in (customer, vendor):
        edited = pane.locator("li.message", has_text="Are these still available in black?")
        expect(edited.locator(".edited")).to_have_text("edited")
        expect(pane.locator("li.message", has_text="Are these still available?")).to_have_count(0)
    expect(composer(customer)).to_have_value("a draft")  # the draft comes back
    expect(customer.get_by_role("button", name="Send")).to_be_visible()
    # Escape leaves an edit without sending it.
    customer.locator("li.message.mine", has_text="in black?").get_by_role(
        "button", name="Edit message").click()
    expect(composer(customer)).to_have_value("Hi! Are these still available in black?")
    composer(customer).press("Escape")
    expect(composer(customer)).to_have_value("a draft")
    composer(customer).fill("")

    # A second chat, opened by the backend for customer 2 with a trusted product and name,
    # gets a message while the vendor looks at the first: the total counts it.
    api_request(url, "PUT", "/api/v1/products/demo-watch-2", API_KEY,
                {"name": "Smart Watch", "price": "149.00"})
    api_request(url, "PUT", "/api/v1/users/customer/2", API_KEY, {"name": "Sam Lee"})
    status, body = api_request(url, "POST", "/api/v1/chats", API_KEY,
                               {"customerId": 2, "vendorId": 1, "productId": "demo-watch-2"})
    assert status == 201, body
    status, body = api_request(
        url, "POST", f"/api/v1/chats/{body['data']['id']}/messages", API_KEY,
        {"text": "Does the watch come with a spare strap?", "senderType": "CUSTOMER"})
    assert status == 201, body
    watch = vendor.locator("button.chat-item").filter(has_text="Smart Watch")
    expect(watch.locator(".badge")).to_have_text("1")
    expect(watch).to_contain_text("Sam Lee")
    expect(_total(vendor)).to_have_text("1 unread")

    # The vendor answers in the first chat; the customer reads it at once (chat open).
    _send(vendor, "Yes, black is in stock. I can't share phone numbers here, sorry.")
    expect(customer.locator("li.message.theirs", has_text="black is in stock")).to_be_visible()
    expect(_total(customer)).to_have_text("No unread")
    # Only one's own messages offer an edit: never the other side's or the marketplace's.
    expect(vendor.locator("li.message.mine button[data-edit]")).to_have_count(1)
    expect(vendor.locator("li.message.theirs button, li.message.system button")).to_have_count(0)
    expect(page.locator(".notice")).to_have_count(0)


def test_blocking_and_reporting_from_the_chat_header_of_the_demo_page(
    server_url: str, browser: Browser
) -> None:
    page, errors = open_demo_page(browser, server_url)
    try:
        _block_and_report(page)
        assert errors == [], f"uncaught errors in the page: {errors}"
    except BaseException:
        save_screenshot(page, "demo-block-failure.png")
        raise
    finally:
        page.close()


def _block_and_report(page: Page) -> None:
    customer = page.get_by_role("region", name="Customer 1")
    vendor = page.get_by_role("region", name="Vendor 1")
    _send(customer, "Is the price negotiable?")
    vendor.locator("button.chat-item").filter(has_text="Wireless Headphones").click()
    expect(vendor.locator("li.message.theirs", has_text="negotiable")).to_be_visible()
    for pane in (customer, vendor):
        expect(pane.locator("[data-ref=blockState]")).to_be_hidden()

    # The customer blocks the vendor: both headers say so (chatUpdated).
    customer.get_by_role("button", name="Block Vendor 1").click()
    expect(customer.locator("[data-ref=blockState]")).to_have_text(
        "You blocked Vendor 1: they cannot write to you.")
    expect(customer.get_by_role("button", name="Unblock Vendor 1")).to_have_attribute(
        "aria-pressed", "true")
    expect(vendor.locator("[data-ref=blockState]")).to_have_text(
        "Customer 1 has blocked you: you cannot write in this chat.")
    expect(composer(vendor)).to_have_attribute("placeholder", "You cannot message this user")
    # The blocked side no longer sees the blocker's presence (the server says offline).
    expect(vendor.locator("[data-ref=presence]")).to_have_attribute("data-state", "offline")
    expect(customer.locator("[data-ref=presence]")).to_have_attribute("data-state", "online")

    # The vendor's send is refused with a 403 notice; the text is given back.
    composer(vendor).fill("Let me make you an offer")
    composer(vendor).press("Enter")
    notice = vendor.get_by_role("alert")
    expect(notice).to_contain_text("403")
    expect(notice).to_contain_text("You cannot message this user")
    expect(composer(vendor)).to_have_value("Let me make you an offer")
    expect(customer.locator("li.message", has_text="make you an offer")).to_have_count(0)
    notice.get_by_role("button", name="Dismiss notice").click()

    # Unblocked, the vendor's message goes through.
    customer.get_by_role("button", name="Unblock Vendor 1").click()
    for pane in (customer, vendor):
        expect(pane.locator("[data-ref=blockState]")).to_be_hidden()
    expect(vendor.locator("[data-ref=presence]")).to_have_attribute("data-state", "online")
    composer(vendor).press("Enter")
    expect(customer.locator("li.message.theirs", has_text="make you an offer")).to_be_visible()

    # The vendor reports the customer with a reason: the server acknowledges it.
    vendor.get_by_role("button", name="Report…").click()
    dialog = vendor.get_by_role("dialog", name="Report Jane Doe (Customer 1)")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Why? Moderators read this.").fill("Asked to pay outside the marketplace")
    dialog.get_by_role("button", name="Send report").click()
    expect(dialog).to_be_hidden()
    expect(vendor.get_by_role("status").filter(has_text="User has been reported")).to_contain_text(
        "Customer 1")
    expect(vendor.get_by_role("alert")).to_have_count(0)
