"""What the browser tests of the demo page share: a real ``chat-server`` process in
development mode, Debian's Chromium driven by Playwright, the screenshot of the docs.

The browser is Debian's (``make system-deps``), so ``playwright install`` is never needed.
``make screenshot`` runs the browser tests with CHAT_SCREENSHOT_TO=docs/demo.png; the test
that saves ``demo.png`` refreshes the picture of the README, the one that saves
``demo-attachments.png`` that of docs/attachments.md (next to it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from service_support import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_TIMEOUT_S = 20.0
SERVER_STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
VIEWPORT = {"width": 1280, "height": 800}
CONNECT_TIMEOUT_MS = 15_000
SCREENSHOT_OF_THE_DOCS = "demo.png"
OTHER_SCREENSHOTS_OF_THE_DOCS = frozenset({"demo-attachments.png"})


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


@contextmanager
def running_server(log_dir: Path, **settings: str) -> Iterator[str]:
    """A chat-server in development mode (no key: dev tokens, demo page) on a free port,
    with ``settings`` (CHAT_* variables) on top of no rate limits and uploads stored under
    ``log_dir`` (never in the repository, where it runs); yields its URL."""
    port = free_port()
    # No CHAT_* from the caller's environment: no key (development mode), default storage.
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHAT_")}
    env.update(
        CHAT_HOST="127.0.0.1",
        CHAT_PORT=str(port),
        CHAT_SEND_RATE="off",
        CHAT_REQUEST_RATE="off",
        CHAT_MEDIA_DIR=str(log_dir / "media"),
    )
    env.update(settings)
    log_path = log_dir / "chat-server.log"
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


def composer(pane: Locator) -> Locator:
    return pane.get_by_role("textbox", name="Message", exact=True)


def save_screenshot(page: Page, name: str) -> None:
    """Into test-artifacts/; ``demo.png`` also to CHAT_SCREENSHOT_TO when it is set, and the
    other pictures of the docs into the same folder."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    target = os.environ.get("CHAT_SCREENSHOT_TO")
    if not target:
        return
    if name == SCREENSHOT_OF_THE_DOCS:
        destination = Path(target)
    elif name in OTHER_SCREENSHOTS_OF_THE_DOCS:
        destination = Path(target).with_name(name)
    else:
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, destination)


def api_request(url: str, method: str, path: str, key: str, body: Any) -> tuple[int, Any]:
    """One server API call (SERVER_API.md) with the API key; returns (status, envelope)."""
    request = urllib.request.Request(
        f"{url}{path}", method=method, data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def open_demo_page(browser: Browser, url: str) -> tuple[Page, list[str]]:
    """The demo page with both panes online; the list collects the page's script errors."""
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/")
    for name in ("Customer 1", "Vendor 1"):
        expect(page.get_by_role("region", name=name).locator("[data-ref=conn]")).to_have_attribute(
            "data-state", "online", timeout=CONNECT_TIMEOUT_MS
        )
    return page, errors
