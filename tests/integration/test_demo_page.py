"""The demo page at `/`, driven in headless Chromium against a real `chat-server` process.

Needs Debian's Chromium (`make system-deps`) and Playwright for Python (test extras); the
browser is Debian's, so `playwright install` is never needed. `make screenshot` runs this
test with CHAT_SCREENSHOT_TO=docs/demo.png to refresh the screenshot of the docs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_TIMEOUT_S = 20.0
SERVER_STOP_TIMEOUT_S = 10.0
VIEWPORT = {"width": 1280, "height": 800}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("chat-server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "chat_server.entrypoints.cli"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200 and json.load(response) == {"status": "ok"}
    except (OSError, ValueError):
        return False


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """A chat-server in development mode (no key: dev tokens, demo page) on a free port."""
    port = _free_port()
    # No CHAT_* from the caller's environment: no key (development mode), default storage.
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHAT_")}
    env.update(
        CHAT_HOST="127.0.0.1",
        CHAT_PORT=str(port),
        CHAT_SEND_RATE="off",
        CHAT_REQUEST_RATE="off",
    )
    log_path = tmp_path / "chat-server.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _server_command(), env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"chat-server did not come up on {url} "
                        f"(exit code {process.poll()}); its output:\n"
                        + log_path.read_text(errors="replace"),
                        pytrace=False,
                    )
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _composer(pane: Locator) -> Locator:
    return pane.get_by_role("textbox", name="Message", exact=True)


def _save_screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    target = os.environ.get("CHAT_SCREENSHOT_TO")
    if target and name == "demo.png":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def test_a_customer_and_a_vendor_chat_on_the_demo_page(server_url: str, browser: Browser) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        _run_scenario(page, server_url)
        assert page_errors == [], f"uncaught errors in the page: {page_errors}"
        # Leave no focus ring in the screenshot of the docs.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        _save_screenshot(page, "demo.png")
    except BaseException:
        _save_screenshot(page, "demo-failure.png")
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
    _composer(customer).fill("Hi! Are these still available?")
    _composer(customer).press("Enter")
    first = customer.locator("li.message.mine", has_text="Are these still available?")
    expect(first).to_be_visible()
    expect(first.locator(".tick")).not_to_have_attribute("data-tick", "pending")
    expect(first.locator(".tick")).not_to_have_attribute("data-tick", "read")
    expect(_composer(customer)).to_have_value("")

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
    _composer(vendor).press_sequentially("Yes, they ship tomorrow.")
    expect(customer.locator("[data-ref=typing]")).to_contain_text("is typing")
    _composer(vendor).press("Enter")
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
    _composer(customer).fill("Is it this colour?")
    _composer(customer).press("Enter")
    expect(vendor.locator(f"li.message.theirs img[src='{image_url}']")).to_be_visible()

    # A deleted message disappears from both panes.
    _composer(customer).fill("Oops, wrong window")
    _composer(customer).press("Enter")
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
