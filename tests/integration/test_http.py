"""HTTP beside Socket.IO: the demo page outside development mode, and the dev token endpoint."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from service_support import Server, http_json


def fetch(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


@pytest.fixture
def production_with_demo(tmp_path: Path) -> Iterator[Server]:
    env = {"CHAT_JWT_SECRET": "http-tests-secret-0123456789-abcdef", "CHAT_DEMO_PAGE": "1"}
    server = Server(env, tmp_path / "server.log").start()
    yield server
    server.stop()


@pytest.fixture
def development(tmp_path: Path) -> Iterator[Server]:
    server = Server({}, tmp_path / "server.log").start()
    yield server
    server.stop()


def test_chat_demo_page_serves_the_page_and_its_pinned_client_but_no_tokens(
    production_with_demo: Server,
):
    status, body, kind = fetch(f"{production_with_demo.url}/")
    assert status == 200 and kind.startswith("text/html") and b"/static/app.js" in body
    status, body, _ = fetch(f"{production_with_demo.url}/static/vendor/socket.io.esm.min.js")
    assert status == 200 and len(body) > 10_000
    status, licence, _ = fetch(f"{production_with_demo.url}/static/vendor/LICENSE")
    assert status == 200 and b"MIT" in licence
    status, _ = http_json(f"{production_with_demo.url}/dev/token", "POST",
                          {"type": "customer", "id": 1})
    assert status in (404, 405)


def test_development_mode_signs_tokens_for_the_demo_page(development: Server):
    status, body = http_json(f"{development.url}/dev/token", "POST", {"type": "vendor", "id": 7})
    assert status == 200
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "7" and claims["userType"] == "vendor"
    for bad in ({"type": "admin", "id": 1}, {"type": "vendor", "id": 0}, {"id": 2}, []):
        assert http_json(f"{development.url}/dev/token", "POST", bad)[0] == 400
