"""docs/webhooks.md is what the service does: its examples have the contract's fields and go
through the real delivery path, and its verification snippets (Python in this process,
Node with ``node``) accept real deliveries and refuse forgeries. The worked e-mail example
runs as its own process against a small SMTP server."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from email.message import Message
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio
from service_support import free_port
from webhook_receiver import WebhookReceiver
from webhook_support import SECRET, Nodes, Storage, new_item, nodes, receiver, until

from chat_server.application.webhook_format import WEBHOOK_TYPES, sign

__all__ = ["nodes", "receiver"]

DOC = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
MESSAGE_FIELDS = {
    "id", "chatId", "seq", "senderId", "recipientId", "senderType", "recipientType", "text",
    "messageImages", "read", "readAt", "recipientOnline", "deliveredAt", "clientMessageId",
    "timestamp", "createdAt", "updatedAt",
    "messageId", "editedAt", "attachments",  # PROTOCOL.md section 10
}
CHAT_FIELDS = {
    "id", "productId", "customerId", "vendorId", "productName", "productImageUrl",
    "productPrice", "storeName", "storeLogoUrl", "customerName", "customerProfilePic",
    "createdAt", "updatedAt", "lastMessageAt", "unreadCount", "messages",
    "blocked", "blockedBy",  # PROTOCOL.md section 10
}
DATA_FIELDS = {  # SERVER_API.md section 5
    "chat.created": {"chat"},
    "message.created": {"message", "chatId", "recipientOnline"},
    "message.unread": {"user", "chatId", "unreadCount", "messages"},
    "message.read": {"chatId", "reader", "readUpToSeq", "messageIds"},
    "message.deleted": {"chatId", "messageId"},
    "user.reported": {"reporter", "reported", "chatId", "reason"},
}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def snippet(name: str) -> str:
    found = re.search(rf"<!-- snippet: {name} -->\n```\w+\n(.*?)\n```", DOC, re.DOTALL)
    assert found, f"docs/webhooks.md has no snippet {name!r}"
    return found.group(1)


def example(event_type: str) -> dict[str, Any]:
    found = re.search(rf"<!-- example: {re.escape(event_type)} -->\n```json\n(.*?)\n```", DOC,
                      re.DOTALL)
    assert found, f"docs/webhooks.md has no example of {event_type}"
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded


@pytest.mark.parametrize("event_type", WEBHOOK_TYPES)
def test_every_event_type_has_an_example_with_the_contracts_fields(event_type: str):
    body = example(event_type)
    assert set(body) == {"id", "type", "createdAt", "data"} and body["type"] == event_type
    assert re.fullmatch(r"evt_([0-9a-f]{24}|[0-9a-f]{32})", body["id"])
    assert ISO.fullmatch(body["createdAt"])
    data = body["data"]
    assert set(data) == DATA_FIELDS[event_type]
    chats = [data["chat"]] if "chat" in data else []
    messages = [m for c in chats for m in c["messages"]] + data.get("messages", [])
    messages += [data["message"]] if "message" in data else []
    for chat in chats:
        assert set(chat) == CHAT_FIELDS
    for message in messages:
        assert set(message) == MESSAGE_FIELDS and message["messageId"] == message["id"]
    for user in [data[k] for k in ("user", "reader", "reporter", "reported") if k in data]:
        assert set(user) == {"id", "type"} and user["type"] in ("CUSTOMER", "VENDOR")


def test_every_setting_is_documented():
    for name in ("CHAT_WEBHOOK_URL", "CHAT_WEBHOOK_SECRET", "CHAT_WEBHOOK_TIMEOUT_S",
                 "CHAT_WEBHOOK_CONCURRENCY", "CHAT_WEBHOOK_MAX_PENDING", "CHAT_WEBHOOK_POLL_S",
                 "CHAT_UNREAD_NOTIFY_AFTER_S"):
        assert f"| `{name}` |" in DOC, name


@attrs.frozen
class Case:
    secret: str
    header: str
    body: bytes
    valid: bool


async def signature_cases(receiver: WebhookReceiver, nodes: Nodes) -> list[Case]:
    """Every documented example, delivered for real, then forgeries of those deliveries."""
    node = await nodes.start(await Storage("memory").outbox(), receiver.url)
    await node.dispatcher.add([new_item(t, **example(t)["data"]) for t in WEBHOOK_TYPES])
    await receiver.wait_for_count(len(WEBHOOK_TYPES))
    real = [Case(SECRET, d.headers["x-chat-signature"], d.body, True)
            for d in receiver.deliveries]
    one = real[0]
    now = int(time.time())
    stamp, mac = one.header.split(",v1=")
    return [
        *real,
        Case(SECRET, sign(SECRET, now, b'{"made":"by sign()"}'), b'{"made":"by sign()"}', True),
        Case(SECRET, one.header, one.body.replace(b'"data":{', b'"data":{"x":1,'), False),
        Case(SECRET, one.header, one.body + b" ", False),
        Case("another-secret-of-at-least-32-characters", one.header, one.body, False),
        # Beyond the 5 minutes either way (by 100 s, however slow this machine is).
        Case(SECRET, sign(SECRET, now - 400, one.body), one.body, False),  # replayed later
        Case(SECRET, sign(SECRET, now + 400, one.body), one.body, False),
        Case(SECRET, f"t={int(stamp[2:]) + 1},v1={mac}", one.body, False),  # t is signed
        Case(SECRET, "", one.body, False),
        Case(SECRET, f"v1={mac}", one.body, False),
        Case(SECRET, stamp, one.body, False),
        Case(SECRET, f"t=soon,v1={mac}", one.body, False),
        Case(SECRET, f"{stamp},v1={mac[:-2]}", one.body, False),
        Case(SECRET, f"{stamp},v1={'é' * 64}", one.body, False),
    ]


async def test_the_python_snippet_accepts_real_deliveries_and_refuses_forgeries(
    receiver: WebhookReceiver, nodes: Nodes,
):
    cases = await signature_cases(receiver, nodes)
    namespace: dict[str, Any] = {}
    exec(compile(snippet("verify-python"), "docs/webhooks.md:verify-python", "exec"), namespace)
    verify: Callable[[str, str, bytes], bool] = namespace["verify_signature"]
    assert [verify(c.secret, c.header, c.body) for c in cases] == [c.valid for c in cases]


async def test_the_node_snippet_accepts_real_deliveries_and_refuses_forgeries(
    receiver: WebhookReceiver, nodes: Nodes, tmp_path: Path,
):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the docs' Node snippet cannot be checked")
    cases = await signature_cases(receiver, nodes)
    script = tmp_path / "verify.cjs"
    script.write_text(snippet("verify-node") + """
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map(
  (c) => verifySignature(c.secret, c.header, Buffer.from(c.body, "base64")))));
""")
    given = json.dumps([{"secret": c.secret, "header": c.header,
                         "body": base64.b64encode(c.body).decode()} for c in cases])
    run = await asyncio.to_thread(subprocess.run, [node, str(script)], input=given,
                                  capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [c.valid for c in cases]


class SmtpSink:
    """Just enough SMTP for smtplib: records each message it is given."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Message] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await reply("220 sink ESMTP")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    await reply("354 end with <CRLF>.<CRLF>")
                    data = bytearray()
                    while (text := await reader.readline()) not in (b".\r\n", b""):
                        data += text[1:] if text.startswith(b"..") else text
                    self.mails.append(email.message_from_bytes(bytes(data)))
                    await reply("250 queued")
                elif verb == b"QUIT":
                    await reply("221 bye")
                    break
                else:  # EHLO, MAIL, RCPT, RSET, NOOP
                    await reply("250 sink")
        finally:
            writer.close()


@pytest_asyncio.fixture
async def mailer(tmp_path: Path) -> AsyncIterator[tuple[str, SmtpSink]]:
    """The worked example, running as operators would run it, and its SMTP server."""
    sink = SmtpSink()
    await sink.start()
    (tmp_path / "emails.json").write_text(json.dumps({"7": "seller@example.com"}))
    (tmp_path / "unread_mailer.py").write_text(snippet("unread-email"))
    port = free_port()
    env = {"CHAT_WEBHOOK_SECRET": SECRET, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port),
           "VENDOR_EMAILS": str(tmp_path / "emails.json"), "PORT": str(port),
           "SEEN_DB": str(tmp_path / "seen.sqlite3"), "MAIL_FROM": "chat@shop.example"}
    with (tmp_path / "mailer.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "unread_mailer.py", cwd=tmp_path, env=env, stdout=log,
            stderr=subprocess.STDOUT)

    def listens() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    await until(lambda: listens() or process.returncode is not None)
    assert process.returncode is None, (tmp_path / "mailer.log").read_text()
    yield f"http://127.0.0.1:{port}/", sink
    process.terminate()
    await asyncio.wait_for(process.wait(), 10)
    await sink.stop()


async def test_the_worked_example_mails_a_seller_once_per_unread_lead(
    mailer: tuple[str, SmtpSink], nodes: Nodes,
):
    url, sink = mailer
    node = await nodes.start(await Storage("memory").outbox(), url, timeout_s=5.0)
    stats = node.dispatcher.stats
    unread = example("message.unread")["data"]
    lead = new_item("message.unread", **unread)
    for_a_customer = new_item("message.unread", **{**unread, "user": {"id": 2, "type": "CUSTOMER"}})
    await node.dispatcher.add([lead, for_a_customer, new_item("message.created", chatId="c")])
    await until(lambda: stats.delivered == 3)
    await node.dispatcher.add([lead])  # the same event again, as a retry would bring it
    await until(lambda: stats.delivered == 4)
    [mail] = sink.mails
    assert mail["To"] == "seller@example.com" and "2 unread messages" in mail["Subject"]
    text = mail.get_payload(decode=True).decode()
    assert "> Is the red bike still available?" in text and "> I could pick it up today." in text
    assert "https://shop.example/seller/chats/6b0f5e9224f64e2b1dfba5a0" in text
    # SMTP down: the receiver answers 503, the service retries, the mail goes out later.
    await sink.stop()
    second = new_item("message.unread", **{**unread, "unreadCount": 1})
    await node.dispatcher.add([second])
    await until(lambda: stats.retried >= 2)
    await sink.start()
    await until(lambda: stats.delivered == 5)
    assert len(sink.mails) == 2 and "1 unread message" in sink.mails[1]["Subject"]
    assert stats.dropped == 0
