"""``GET /metrics`` scraped from the real service after a scripted conversation: the
counters moved as the conversation says, and no user id, chat id or token is in it."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_support import SECRET, Client, Server, make_token, storage_env

# Ids no other test uses, long enough that they cannot be a count or a bucket bound.
CUSTOMER_ID, VENDOR_ID = 987654321, 918273645

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(params=["memory", "mongo"])
def metered(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_SEND_RATE": "1/1h", "CHAT_SEND_BURST": "2",
           "CHAT_PRESENCE_GRACE_S": "1"}
    env.update(storage_env(request.param, request))
    server = Server(env, tmp_path / "server.log").start()
    yield server
    server.stop()


async def test_the_counters_follow_a_conversation_and_name_no_user(metered: Server):
    customer = await Client(metered.url, "customer", CUSTOMER_ID).connect()
    vendor = await Client(metered.url, "vendor", VENDOR_ID).connect()
    opened = await customer.call("sendMessage", {"recipientId": VENDOR_ID, "productId": "sku-1",
                                                 "text": "Still available?",
                                                 "clientMessageId": "c-1"})
    chat_id = opened["data"]["id"]
    await vendor.next("newChat")
    reply = await vendor.call("sendMessage", {"chatId": chat_id, "text": "Yes"})
    assert reply["statusCode"] == 200
    second = await customer.call("sendMessage", {"chatId": chat_id, "text": "Great"})
    assert (await customer.call("markAsRead", {"chatId": chat_id}))["statusCode"] == 200
    deleted = await customer.call("deleteMessage", {"chatId": chat_id,
                                                    "messageId": second["data"]["id"]})
    assert deleted["statusCode"] == 200
    assert (await customer.call("typing", {"chatId": chat_id}))["statusCode"] == 200
    unknown = await customer.call("noSuchEvent", {})
    assert unknown["statusCode"] == 400
    invalid = await customer.call("getMessages", {"chatId": 12})
    assert invalid["statusCode"] == 400
    # Two sends per user: the customer's third is refused.
    limited = await customer.call("sendMessage", {"chatId": chat_id, "text": "Hello?"})
    assert limited["statusCode"] == 429

    content_type, text = await asyncio.to_thread(scrape, metered.url)
    assert content_type.startswith("text/plain; version=")
    found = samples(text)
    chat = {"namespace": "/chat"}
    assert value(found, "chat_connections", namespace="/chat") == 2
    assert value(found, "chat_connections", namespace="/presence") == 2
    assert value(found, "chat_engineio_sessions") == 2
    assert value(found, "chat_events_received_total", event="sendMessage", status="200",
                 **chat) == 3
    assert value(found, "chat_events_received_total", event="sendMessage", status="429",
                 **chat) == 1
    assert value(found, "chat_events_received_total", event="unknown", status="400", **chat) == 1
    assert value(found, "chat_events_received_total", event="getMessages", status="400",
                 **chat) == 1
    assert value(found, "chat_event_duration_seconds_count", event="sendMessage", **chat) == 4
    assert value(found, "chat_event_duration_seconds_bucket", event="sendMessage", le="+Inf",
                 **chat) == 4
    assert value(found, "chat_messages_stored_total", sender_type="customer") == 2
    assert value(found, "chat_messages_stored_total", sender_type="vendor") == 1
    assert value(found, "chat_domain_events_total", type="ChatOpened") == 1
    assert value(found, "chat_domain_events_total", type="MessageStored") == 2
    assert value(found, "chat_domain_events_total", type="MessageDeleted") == 1
    assert value(found, "chat_domain_events_total", type="TypingChanged.start") == 1
    assert value(found, "chat_domain_events_total", type="ReadReceipt") >= 1
    assert value(found, "chat_emits_total", event="receiveMessage") == 2
    assert value(found, "chat_emits_total", event="newChat") == 1
    assert value(found, "chat_emits_total", event="appError") == 3  # 400, 400, 429
    assert value(found, "chat_rate_limited_total", kind="send") == 1
    # Storage calls are timed on MongoDB (in memory, timing would cost more than the call).
    timed = 3 if metered.env["CHAT_STORAGE"] == "mongo" else 0
    assert value(found, "chat_storage_operation_duration_seconds_count", repository="messages",
                 method="add") == timed
    assert value(found, "chat_storage_operation_duration_seconds_count", repository="chats",
                 method="allocate_seq") == timed
    assert value(found, "process_resident_memory_bytes") > 0

    token = make_token("customer", CUSTOMER_ID)
    for secret in (str(CUSTOMER_ID), str(VENDOR_ID), chat_id, token, SECRET, "Still available"):
        assert secret not in text
    await customer.close()
    await vendor.close()


def test_chat_metrics_0_serves_no_metrics(tmp_path: Path):
    server = Server({"CHAT_JWT_SECRET": SECRET, "CHAT_METRICS": "0"},
                    tmp_path / "server.log").start()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(server.url)
        assert refused.value.code == 404
    finally:
        server.stop()
