"""The Socket.IO dispatch path and the exactly-once rule, on the real wiring with a fake
socket server that records what would go on the wire (no sockets, no subprocess)."""

from __future__ import annotations

import time
from typing import Any

import attrs
import pytest
from core_fakes import RecordingSubscriber
from dependency_injector import providers

from chat_server.application.events import ChatOpened, MessageStored, ReadReceipt
from chat_server.domain.model import UserRef, UserType
from chat_server.entrypoints.container import build_container
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio import wire
from chat_server.entrypoints.socketio.connection import Connection, ConnState
from chat_server.entrypoints.socketio.dispatch import Dispatcher
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE
from chat_server.entrypoints.socketio.routes import ReplyKind

CUSTOMER = UserRef(UserType.CUSTOMER, 1)
VENDOR = UserRef(UserType.VENDOR, 2)


@attrs.frozen
class Emit:
    event: str
    body: Any
    to: Any
    namespace: str
    skip_sid: Any = None


class FakeSocketServer:
    """Records emits and acks instead of writing them to sockets."""

    def __init__(self) -> None:
        self.emits: list[Emit] = []
        self.acks: list[tuple[str, str, int, Any]] = []

    async def emit(self, event: str, data: Any = None, to: Any = None, namespace: str = "/",
                   skip_sid: Any = None, **_: Any) -> None:
        self.emits.append(Emit(event, data, to, namespace, skip_sid))

    async def send_ack(self, eio_sid: str, namespace: str, ack_id: int, data: Any) -> None:
        self.acks.append((eio_sid, namespace, ack_id, data))

    def to_asker(self, sid: str) -> list[Emit]:
        return [e for e in self.emits if e.to == sid]

    def clear(self) -> None:
        self.emits.clear()
        self.acks.clear()


@attrs.define
class Wired:
    sio: FakeSocketServer
    dispatcher: Dispatcher
    recorder: RecordingSubscriber


@pytest.fixture
def wired() -> Wired:
    container = build_container(Settings(jwt_secret="unit-tests-secret-0123456789"))
    sio = FakeSocketServer()
    recorder = RecordingSubscriber()
    container.sio.override(providers.Object(sio))
    # A new subscriber is one more entry in this list.
    container.subscribers.override(
        providers.List(container.socket_notifier, providers.Object(recorder)))
    return Wired(sio, container.dispatcher(), recorder)


def conn(user: UserRef, sid: str = "asker", namespace: str = CHAT) -> Connection:
    return Connection(sid, f"eio-{sid}", user, namespace, time.time() + 3600,
                      state=ConnState.OPEN)


async def open_chat(wired: Wired) -> dict[str, Any]:
    await wired.dispatcher.handle(conn(CUSTOMER, "setup"), 1, "sendMessage",
                                  [{"recipientId": 2, "productId": "p", "text": "first"}])
    chat: dict[str, Any] = wired.sio.acks[-1][3]["data"]
    wired.sio.clear()
    wired.recorder.clear()
    return chat


async def test_an_acked_send_is_broadcast_skipping_the_asker_and_acked_once(wired: Wired):
    chat = await open_chat(wired)
    asker = conn(CUSTOMER)
    await wired.dispatcher.handle(asker, 7, "sendMessage", [{"chatId": chat["id"], "text": "x"}])
    [broadcast] = wired.sio.emits
    assert broadcast.event == "receiveMessage" and broadcast.skip_sid == "asker"
    assert broadcast.to == [wire.room(CUSTOMER), wire.room(VENDOR)]
    [(eio_sid, namespace, ack_id, body)] = wired.sio.acks
    assert (eio_sid, namespace, ack_id) == ("eio-asker", CHAT, 7)
    assert body == broadcast.body and body["data"]["seq"] == 2


async def test_an_unacked_send_learns_its_outcome_from_the_broadcast_alone(wired: Wired):
    chat = await open_chat(wired)
    await wired.dispatcher.handle(conn(CUSTOMER), None, "sendMessage",
                                  [{"chatId": chat["id"], "text": "x"}])
    [broadcast] = wired.sio.emits
    assert broadcast.skip_sid is None and wired.sio.acks == []


async def test_a_replayed_send_without_an_ack_is_emitted_to_the_asker_alone(wired: Wired):
    payload = {"recipientId": 2, "productId": "p", "text": "x", "clientMessageId": "c-1"}
    await wired.dispatcher.handle(conn(CUSTOMER), None, "sendMessage", [payload])
    [new_chat, new_sent_chat] = wired.sio.emits
    assert (new_chat.event, new_sent_chat.event) == ("newChat", "newSentChat")
    wired.sio.clear()
    await wired.dispatcher.handle(conn(CUSTOMER), None, "sendMessage", [payload])
    [again] = wired.sio.emits
    assert again.event == "newSentChat" and again.to == "asker"
    assert again.body == new_sent_chat.body


async def test_a_replayed_send_with_an_ack_is_only_acked(wired: Wired):
    payload = {"recipientId": 2, "productId": "p", "text": "x", "clientMessageId": "c-2"}
    await wired.dispatcher.handle(conn(CUSTOMER), 1, "sendMessage", [payload])
    first_ack = wired.sio.acks[-1][3]
    wired.sio.clear()
    await wired.dispatcher.handle(conn(CUSTOMER), 2, "sendMessage", [payload])
    assert wired.sio.emits == [] and wired.sio.acks[-1][3] == first_ack


async def test_a_join_is_always_emitted_to_the_asker_and_its_receipt_reaches_it_too(
    wired: Wired,
):
    chat = await open_chat(wired)
    await wired.dispatcher.handle(conn(VENDOR), 3, "joinChat", [{"chatId": chat["id"]}])
    receipt, loaded = wired.sio.emits
    assert receipt.event == "updateReadReceipts" and receipt.skip_sid is None
    assert loaded.event == "loadMessages" and loaded.to == "asker"
    assert wired.sio.acks[-1][3] == loaded.body


async def test_reading_with_nothing_unread_answers_the_asker_only(wired: Wired):
    chat = await open_chat(wired)
    await wired.dispatcher.handle(conn(CUSTOMER), None, "markAsRead", [{"chatId": chat["id"]}])
    [answer] = wired.sio.emits
    assert answer.event == "updateReadReceipts" and answer.to == "asker"
    assert answer.body["data"]["messageIds"] == [] and answer.body["data"]["readAt"] is None
    assert wired.recorder.published == []


async def test_typing_is_relayed_to_the_other_side_and_never_emitted_to_the_asker(wired: Wired):
    chat = await open_chat(wired)
    await wired.dispatcher.handle(conn(CUSTOMER), None, "typing", [{"chatId": chat["id"]}])
    [relayed] = wired.sio.emits
    assert relayed.event == "userTyping" and relayed.to == wire.room(VENDOR)
    await wired.dispatcher.handle(conn(CUSTOMER), 4, "typing", [{"chatId": chat["id"]}])
    assert len(wired.sio.emits) == 1  # throttled: acked 200, not relayed
    assert wired.sio.acks[-1][3]["statusCode"] == 200


async def test_errors_are_acked_and_emitted_with_their_status(wired: Wired):
    asker = conn(CUSTOMER)
    await wired.dispatcher.handle(asker, 5, "sendMessage", ["not an object"])
    [error] = wired.sio.emits
    assert error.event == "appError" and error.to == "asker"
    assert error.body["statusCode"] == 400 and error.body["data"]["event"] == "sendMessage"
    assert wired.sio.acks[-1][3] == error.body
    await wired.dispatcher.handle(asker, None, "joinChat", [{"chatId": "f" * 24}])
    assert wired.sio.emits[-1].body["statusCode"] == 404
    await wired.dispatcher.handle(conn(CUSTOMER, namespace=PRESENCE), 6, "sendMessage", [{}])
    assert wired.sio.acks[-1][3]["message"] == "Unknown event"


async def test_a_subscriber_added_to_the_list_sees_every_event_of_a_conversation_in_order(
    wired: Wired,
):
    customer, vendor = conn(CUSTOMER, "c"), conn(VENDOR, "v")
    await wired.dispatcher.handle(customer, 1, "sendMessage",
                                  [{"recipientId": 2, "productId": "q", "text": "hello"}])
    chat_id = wired.sio.acks[-1][3]["data"]["id"]
    await wired.dispatcher.handle(vendor, 2, "sendMessage", [{"chatId": chat_id, "text": "hi"}])
    await wired.dispatcher.handle(customer, None, "joinChat", [{"chatId": chat_id}])
    await wired.dispatcher.handle(customer, 3, "markAsRead", [{"chatId": chat_id}])
    assert [type(e) for e in wired.recorder.published] == [ChatOpened, MessageStored, ReadReceipt]


def test_every_route_declares_how_its_reply_reaches_the_asker(wired: Wired):
    routes = wired.dispatcher._routes
    kinds = {name: route.reply for table in routes.values() for name, route in table.items()}
    assert kinds["sendMessage"] is ReplyKind.SHARED and kinds["joinChat"] is ReplyKind.CALLER
    assert kinds["typing"] is ReplyKind.ACK and kinds["getUserChats"] is ReplyKind.CALLER
