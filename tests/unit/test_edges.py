"""The entrypoint's pure parts: tokens, settings, payload parsing, the wire format, limits,
and that the installed package is this project's."""

from __future__ import annotations

import importlib.util
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

import chat_server
from chat_server.adapters.memory import InMemoryRateLimiter
from chat_server.adapters.system import ObjectIdGenerator
from chat_server.application.ports import RateKind, RateLimit
from chat_server.application.use_cases import Caller
from chat_server.domain.model import Chat, ChatKey, Message, ProductSnapshot, UserRef, UserType
from chat_server.entrypoints.auth import TokenRejected, TokenVerifier, find_token, issue_token
from chat_server.entrypoints.settings import ConfigError, Settings, parse_rate
from chat_server.entrypoints.socketio import payloads, wire

SECRET = "unit-tests-secret-0123456789-abcdef"
CUSTOMER = UserRef(UserType.CUSTOMER, 2)


def token(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, secret, algorithm="HS256")


def test_the_token_is_taken_from_auth_then_header_then_bearer():
    assert find_token({"token": "a"}, {"HTTP_TOKEN": "b"}) == "a"
    assert find_token(None, {"HTTP_TOKEN": "b", "HTTP_AUTHORIZATION": "Bearer c"}) == "b"
    assert find_token({}, {"HTTP_AUTHORIZATION": "Bearer c"}) == "c"
    for auth, environ, message in ((None, {}, "Token missing"),
                                   ({"token": 5}, {"HTTP_TOKEN": "b"}, "Invalid token"),
                                   (None, {"HTTP_AUTHORIZATION": "Basic x"}, "Invalid token")):
        with pytest.raises(TokenRejected, match=message):
            find_token(auth, environ)


@pytest.mark.parametrize("claims", [
    {"data": {"id": 2}, "types": ["customer"]}, {"sub": "2", "userType": "CUSTOMER"},
    {"id": 2, "role": "customer"}, {"sub": 2, "type": "customer"},
])
def test_both_claim_shapes_name_the_user(claims: dict[str, object]):
    assert TokenVerifier(SECRET, ["HS256"]).verify(token(claims)).user == CUSTOMER


@pytest.mark.parametrize(("claims", "secret", "message"), [
    ({"sub": "2", "userType": "customer", "exp": 1}, SECRET, "Token expired"),
    ({"sub": "2", "userType": "customer"}, "another-secret-0123456789-abcdef", "Invalid token"),
    ({"sub": "x2", "userType": "customer"}, SECRET, "Invalid token"),
    ({"sub": "2", "userType": "admin"}, SECRET, "Unauthorized"),
    ({"sub": "2"}, SECRET, "Unauthorized"),
    ({"sub": "2", "userType": "customer", "exp": 10**400}, SECRET, "Invalid token"),
    ({"sub": "2", "userType": "customer", "exp": True}, SECRET, "Invalid token"),
    ({"sub": "2", "userType": "customer", "exp": 1e400}, SECRET, "Invalid token"),
    ({"sub": "2", "userType": "customer", "iat": 1e400}, SECRET, "Invalid token"),
    ({"sub": "002", "userType": "customer"}, SECRET, "Invalid token"),
    ({"sub": "+2", "userType": "customer"}, SECRET, "Invalid token"),
])
def test_bad_tokens_are_refused_with_the_protocols_messages(
    claims: dict[str, object], secret: str, message: str
):
    with pytest.raises(TokenRejected, match=message):
        TokenVerifier(SECRET, ["HS256"]).verify(token(claims, secret))


def test_ids_are_24_hex_and_carry_64_random_bits():
    generator = ObjectIdGenerator()
    ids = [generator.new_id() for _ in range(1000)]
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    assert len({i[8:] for i in ids}) == 1000  # no counter, no per-process constant
    suffixes = [int(i[8:], 16) for i in ids]
    assert len({s >> 56 for s in suffixes}) > 200  # the high random byte varies too


def test_ids_take_their_random_bits_from_the_kernel_a_block_at_a_time(mocker: Any):
    real, blocks = os.urandom, []

    def urandom(size: int) -> bytes:
        blocks.append(real(size))
        return blocks[-1]

    mocker.patch.object(os, "urandom", urandom)
    generator = ObjectIdGenerator()
    ids = [generator.new_id() for _ in range(3 * ObjectIdGenerator.POOL_IDS + 1)]
    assert [len(b) for b in blocks] == [8 * ObjectIdGenerator.POOL_IDS] * 4
    hexed = "".join(b.hex() for b in blocks)
    assert "".join(i[8:] for i in ids) == hexed[:16 * len(ids)]  # each bit used once, in order


def test_exp_is_required_and_audience_is_enforced_when_configured():
    no_exp = jwt.encode({"sub": "2", "userType": "customer"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenRejected, match="Invalid token"):
        TokenVerifier(SECRET, ["HS256"]).verify(no_exp)
    verifier = TokenVerifier(SECRET, ["HS256"], audience="shop")
    with pytest.raises(TokenRejected):
        verifier.verify(token({"sub": "2", "userType": "customer", "aud": "other"}))
    issued = issue_token(SECRET, "HS256", CUSTOMER, 60, audience="shop")
    assert verifier.verify(issued).user == CUSTOMER


def test_settings_defaults_and_development_mode():
    dev = Settings.load({})
    assert dev.dev_mode and dev.demo_page and dev.jwt_secret and dev.cors_origins == ("*",)
    prod = Settings.load({"CHAT_JWT_SECRET": SECRET})
    assert not prod.dev_mode and not prod.demo_page and prod.cors_origins is None
    assert (prod.host, prod.port, prod.storage) == ("127.0.0.1", 8000, "memory")
    assert prod.send_limit == RateLimit(2.0, 10) and prod.request_limit == RateLimit(6.0, 60)
    assert Settings.load({"CHAT_JWT_SECRET": SECRET}, port=9000).port == 9000


@pytest.mark.parametrize(("env", "flags"), [
    ({}, {"host": "0.0.0.0"}),
    ({"CHAT_STORAGE": "sqlite", "CHAT_JWT_SECRET": SECRET}, {}),
    ({"CHAT_PORT": "0", "CHAT_JWT_SECRET": SECRET}, {}),
    ({"CHAT_REDIS_URL": "redis://r:6379", "CHAT_JWT_SECRET": SECRET}, {}),
    ({"CHAT_TRANSPORTS": "carrier-pigeon", "CHAT_JWT_SECRET": SECRET}, {}),
])
def test_bad_configurations_are_refused(env: dict[str, str], flags: dict[str, object]):
    with pytest.raises(ConfigError):
        Settings.load(env, **flags)


def test_rates_read_as_tokens_per_second():
    assert parse_rate("X", "20/10s") == 2.0 and parse_rate("X", "100/s") == 100.0
    assert parse_rate("X", "6/1m") == 0.1 and parse_rate("X", "off") is None
    with pytest.raises(ConfigError):
        parse_rate("X", "fast")


async def test_a_token_bucket_holds_its_burst_then_refills():
    now = [0.0]
    limiter = InMemoryRateLimiter({RateKind.SEND: RateLimit(2.0, 3), RateKind.REQUEST: None},
                                  monotonic=lambda: now[0])

    async def take() -> list[bool]:
        return [await limiter.acquire(CUSTOMER, RateKind.SEND) for _ in range(4)]

    assert await take() == [True, True, True, False]
    now[0] += 0.5
    assert await take() == [True, False, False, False]
    assert await limiter.acquire(CUSTOMER, RateKind.REQUEST) is True


CALLER = Caller(CUSTOMER, "sid")


@pytest.mark.parametrize(("payload", "field"), [
    (None, "payload"), ("x", "payload"), ({"recipientId": "5"}, "recipientId"),
    ({"recipientId": True}, "recipientId"), ({"recipientId": 2**53}, "recipientId"),
    ({"recipientId": 1.0}, "recipientId"), ({"chatId": {"$gt": ""}}, "chatId"),
    ({"messageImages": [1]}, "messageImages"), ({"productPrice": [1]}, "productPrice"),
    ({"productPrice": float("inf")}, "productPrice"),
])
def test_wrong_types_are_400s_naming_the_wire_field(payload: object, field: str):
    with pytest.raises(payloads.PayloadError) as refused:
        payloads.parse_send_message(CALLER, payload)
    assert field in [e["field"] for e in refused.value.errors]


def test_unknown_fields_are_ignored_and_null_is_absent():
    cmd = payloads.parse_send_message(CALLER, {"chatId": "c", "text": "t", "productName": None,
                                               "extra": {"x": 1}})
    assert cmd.ref.chat_id == "c" and cmd.snapshot is None
    assert payloads.parse_get_user_chats(CALLER, None).limit == 20
    assert payloads.parse_join_chat(CALLER, {"chatIds": "c"}).ref.chat_id == "c"


def test_the_wire_format_matches_the_protocol():
    at = datetime(2026, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert wire.iso(at) == "2026-05-06T07:08:09.123Z"
    chat = Chat.open("c" * 24, ChatKey("p", 2, 3), ProductSnapshot(product_price="9.90"), at)
    chat = chat.with_seq_allocated().with_message(UserType.CUSTOMER, 1, "m" * 24, at)
    message = Message("m" * 24, chat.id, 1, CUSTOMER, UserRef(UserType.VENDOR, 3), "hi", (),
                      at, at)
    for_vendor = wire.chat_json(chat, UserRef(UserType.VENDOR, 3), [message])
    assert for_vendor["unreadCount"] == 1 and for_vendor["productPrice"] == "9.90"
    assert wire.chat_json(chat, CUSTOMER, [])["unreadCount"] == 0
    body = wire.message_json(message)
    assert body["senderType"] == "CUSTOMER" and body["recipientType"] == "VENDOR"
    assert body["timestamp"] == body["createdAt"] == "2026-05-06T07:08:09.123Z"
    assert body["read"] is False and body["readAt"] is None and body["messageImages"] == []


def test_the_installed_package_is_this_projects_and_adds_no_generic_top_level_names():
    src = Path(__file__).resolve().parents[2] / "src"
    assert Path(chat_server.__file__).resolve() == src / "__init__.py"
    for sub in ("domain", "application", "adapters", "entrypoints"):
        spec = importlib.util.find_spec(f"chat_server.{sub}")
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).resolve() == src / sub / "__init__.py"
        generic = importlib.util.find_spec(sub)
        assert generic is None or src not in Path(generic.origin or "/").resolve().parents
