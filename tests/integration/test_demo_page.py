"""The demo page at `/`, driven in headless Chromium against a real `chat-server` process
(tests/integration/demo_support.py): what the first release shows. The second release's
features are test_demo_page_additions.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_support import VIEWPORT, browser, composer, running_server, save_screenshot
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # a fixture


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path) as url:
        yield url


def test_a_customer_and_a_vendor_chat_on_the_demo_page(server_url: str, browser: Browser) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        _run_scenario(page, server_url)
        assert page_errors == [], f"uncaught errors in the page: {page_errors}"
        page.evaluate("document.activeElement && document.activeElement.blur()")
        # docs/demo.png is the second release's scenario (test_demo_page_additions.py).
        save_screenshot(page, "demo-first-release.png")
    except BaseException:
        save_screenshot(page, "demo-failure.png")
        raise
    finally:
        page.close()


def _run_scenario(page: Page, url: str) -> None:
    page.goto(f"{url}/")
    customer = page.get_by_role("region", name="Customer 1")
    vendor = page.get_by_role("region", name="Vendor 1")

    # Both panes fetch a development token and connect /presence and /chat by themselves.
    for pane in (customer, vendor):
        expect(pane.locator("[data-ref=conn]")).to_have_attribute(
            "data-state", "online", timeout=15_000
        )
        expect(pane.locator("[data-ref=conn]")).to_have_text("Connected")

    # From nothing: the demo product is prefilled, so Enter in the customer pane starts a chat.
    expect(customer.get_by_role("heading", name="Wireless Headphones")).to_be_visible()
    composer(customer).fill("Hi! Are these still available?")
    composer(customer).press("Enter")
    first = customer.locator("li.message.mine", has_text="Are these still available?")
    expect(first).to_be_visible()
    expect(first.locator(".tick")).not_to_have_attribute("data-tick", "pending")
    expect(first.locator(".tick")).not_to_have_attribute("data-tick", "read")
    expect(composer(customer)).to_have_value("")

    # The vendor sees the new chat, its last message and an unread badge.
    chat_item = vendor.locator("button.chat-item").filter(has_text="Wireless Headphones")
    expect(chat_item).to_contain_text("Hi! Are these still available?")
    expect(chat_item.locator(".badge")).to_have_text("1")
    expect(chat_item).to_contain_text("Jane Doe")

    # The vendor opens it: history shows, the badge goes, the customer's tick turns to read.
    chat_item.click()
    expect(vendor.locator("li.message.theirs", has_text="Are these still available?")).to_be_visible()
    expect(chat_item.locator(".badge")).to_have_count(0)
    expect(first.locator(".tick")).to_have_attribute("data-tick", "read")
    expect(vendor.get_by_role("heading", name="Wireless Headphones")).to_be_visible()
    expect(vendor.locator("[data-ref=productPrice]")).to_have_text("$299.00")

    # The vendor types: the customer sees it; the vendor sends: the indicator goes.
    composer(vendor).press_sequentially("Yes, they ship tomorrow.")
    expect(customer.locator("[data-ref=typing]")).to_contain_text("is typing")
    composer(vendor).press("Enter")
    reply = customer.locator("li.message.theirs", has_text="Yes, they ship tomorrow.")
    expect(reply).to_be_visible()
    expect(customer.locator("[data-ref=typing]")).to_have_text("")
    # The customer has the chat open, so the reply is read at once.
    expect(
        vendor.locator("li.message.mine", has_text="they ship tomorrow").locator(".tick")
    ).to_have_attribute("data-tick", "read")

    # An image URL goes out as messageImages.
    image_url = f"{url}/static/demo-product.svg"
    customer.get_by_label("Image URL (optional)").fill(image_url)
    composer(customer).fill("Is it this colour?")
    composer(customer).press("Enter")
    expect(vendor.locator(f"li.message.theirs img[src='{image_url}']")).to_be_visible()

    # A deleted message disappears from both panes.
    composer(customer).fill("Oops, wrong window")
    composer(customer).press("Enter")
    expect(vendor.locator("li.message", has_text="Oops, wrong window")).to_be_visible()
    customer.locator("li.message.mine", has_text="Oops, wrong window").get_by_role(
        "button", name="Delete message"
    ).click()
    expect(customer.locator("li.message", has_text="Oops, wrong window")).to_have_count(0)
    expect(vendor.locator("li.message", has_text="Oops, wrong window")).to_have_count(0)
    expect(customer.locator("li.message")).to_have_count(3)
    expect(vendor.locator("li.message")).to_have_count(3)

    # Presence: each side sees the other online.
    expect(customer.locator("[data-ref=presence]")).to_have_attribute("data-state", "online")
    expect(vendor.locator("[data-ref=presence]")).to_have_attribute("data-state", "online")

    # Nothing went wrong so far; then an appError (a message that does not exist, sent
    # without an ack so that the event is the only answer) shows as a dismissable notice.
    expect(page.locator(".notice")).to_have_count(0)
    page.evaluate(
        """() => window.chatDemo.panes[1].connection.sockets["/chat"].emit(
            "deleteMessage", {chatId: "0".repeat(24), messageId: "0".repeat(24)})"""
    )
    notice = vendor.get_by_role("alert")
    expect(notice).to_contain_text("404")
    expect(notice).to_contain_text("deleteMessage")
    notice.get_by_role("button", name="Dismiss notice").click()
    expect(vendor.get_by_role("alert")).to_have_count(0)
