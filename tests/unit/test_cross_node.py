"""Cross-node delivery without Redis: rooms to users, the batching of a round's payloads,
packets written as the library writes them, and the confirmations of what was delivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from core_fakes import FakeClock
from engineio import packet as eio_packet
from socketio import packet

from chat_server.adapters.memory import InMemoryMessageRepository
from chat_server.adapters.redis.fanout import NodeFanout
from chat_server.application.ports import Channel
from chat_server.application.use_cases.delivery import ConfirmDeliveriesHandler
from chat_server.domain.model import Message, UserRef, UserType
from chat_server.entrypoints.socketio import wire
from chat_server.entrypoints.socketio.confirmations import DeliveryConfirmations
from chat_server.entrypoints.socketio.encoding import EncodedBodies, ack_packet, event_packet
from chat_server.entrypoints.socketio.manager import CrossNodeManager, user_targets
from chat_server.entrypoints.socketio.server import StrictJson

CUSTOMER, VENDOR = UserRef(UserType.CUSTOMER, 2), UserRef(UserType.VENDOR, 7)


def test_a_user_room_names_its_user_and_a_sid_names_none():
    for user in (CUSTOMER, VENDOR):
        assert wire.user_of_room(wire.room(user)) == user
    for other in ("AbC123xyz", "customer:", "customer:x", "admin:3", "vendor:²", ""):
        assert wire.user_of_room(other) is None


def test_the_targets_of_an_emit_are_its_user_rooms_in_the_namespace_channel():
    rooms = [wire.room(CUSTOMER), "someSid", wire.room(VENDOR)]
    assert user_targets("/chat", rooms) == [(CUSTOMER, Channel.CHAT), (VENDOR, Channel.CHAT)]
    assert user_targets("/presence", wire.room(VENDOR)) == [(VENDOR, Channel.PRESENCE)]
    assert user_targets("/chat", "someSid") == []
    assert user_targets("/other", rooms) == []


class RecordingScript:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[Any]]] = []
        self.called = asyncio.Event()

    async def __call__(self, keys: list[str], args: list[Any]) -> int:
        self.calls.append((keys, args))
        self.called.set()
        return 1


class ScriptClient:
    """The publisher connection's one use: a registered script."""

    def __init__(self) -> None:
        self.script = RecordingScript()

    def register_script(self, _: str) -> RecordingScript:
        return self.script


def fanout(limit: int = 10_000) -> tuple[NodeFanout, RecordingScript]:
    client = ScriptClient()
    return NodeFanout(client, client, "me", buffer_limit=limit), client.script  # type: ignore[arg-type]


async def test_the_payloads_of_one_round_go_as_one_script_call_with_each_user_once():
    fan, script = fanout()
    publisher = asyncio.create_task(fan._publish_forever())
    try:
        fan.publish(b"1", [(CUSTOMER, Channel.CHAT), (VENDOR, Channel.CHAT)])
        fan.publish(b"2", [(VENDOR, Channel.CHAT)])
        fan.publish(b"3", [(VENDOR, Channel.PRESENCE)])
        await asyncio.wait_for(script.called.wait(), 5)
        script.called.clear()
        fan.publish(b"4", [(CUSTOMER, Channel.CHAT)])
        await asyncio.wait_for(script.called.wait(), 5)
    finally:
        publisher.cancel()
    keys, args = script.calls[0]
    assert keys == ["chat:route:chat:customer:2", "chat:route:chat:vendor:7",
                    "chat:route:presence:vendor:7"]
    # node, channel prefix, count, then (payload, number of users, their key positions).
    assert args == ["me", "chat:node:", 3, b"1", 2, 1, 2, b"2", 1, 2, b"3", 1, 3]
    assert script.calls[1] == (["chat:route:chat:customer:2"],
                               ["me", "chat:node:", 1, b"4", 1, 1])


def test_past_the_buffer_limit_a_payload_is_dropped_and_counted():
    fan, _ = fanout(limit=2)
    for n in range(5):
        fan.publish(str(n).encode(), [(CUSTOMER, Channel.CHAT)])
    assert fan.dropped == 3
    assert CrossNodeManager(fan).publish_errors == 3  # what the metrics export


def test_packets_are_written_as_the_library_writes_them():
    packet.Packet.json = StrictJson
    body = {"statusCode": 200, "data": {"text": "é \u2028 \"quoted\"", "n": [1, 2.5, None]}}
    bodies = EncodedBodies()
    for namespace in ("/chat", "/"):
        ours = event_packet(namespace, "receiveMessage", [bodies.text(body)])
        theirs = packet.Packet(packet.EVENT, namespace=namespace,
                               data=["receiveMessage", body]).encode()
        assert ours == theirs
        ack = packet.Packet(packet.ACK, namespace=namespace, id=12, data=[body]).encode()
        assert ack_packet(namespace, 12, bodies.text(body)) == ack


def test_the_same_body_twice_in_a_row_is_encoded_once():
    bodies = EncodedBodies()
    body: dict[str, Any] = {"a": 1}
    first = bodies.text(body)
    body["a"] = 2  # never done to an envelope: shows the second call did not encode
    assert bodies.text(body) == first
    assert bodies.text({"a": 2}) == '{"a":2}'


def test_a_sends_presenter_and_notifier_share_the_envelope_of_its_message():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    message = Message(id="m1", chat_id="c1", seq=1, sender=CUSTOMER, recipient=VENDOR,
                      text="hi", images=(), created_at=at, updated_at=at)
    assert wire.message_received(message) is wire.message_received(message)


class FakeEngineSocket:
    def __init__(self) -> None:
        self.closing = self.closed = False


class FakeEngine:
    def __init__(self) -> None:
        self.sockets: dict[str, FakeEngineSocket] = {}


class FakeServer:
    """What the manager needs of the socket server: send an Engine.IO packet, and the
    Engine.IO sessions (whether one is closing)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.broken: set[str] = set()
        self.eio = FakeEngine()

    async def _send_eio_packet(self, eio_sid: str, pkt: eio_packet.Packet) -> None:
        if eio_sid in self.broken:
            raise ConnectionError(eio_sid)
        self.sent.append((eio_sid, pkt.data))


def manager_with(sockets: dict[str, UserRef]) -> tuple[CrossNodeManager, FakeServer,
                                                        list[tuple[str, str]], NodeFanout]:
    fan, _ = fanout()
    manager = CrossNodeManager(fan)
    server = FakeServer()
    manager.server = server
    confirmed: list[tuple[str, str]] = []
    manager.confirm_with(lambda room, message_id: confirmed.append((room, message_id)))
    for sid, user in sockets.items():
        server.eio.sockets[f"eio-{sid}"] = FakeEngineSocket()
        manager.basic_enter_room(sid, "/chat", None, eio_sid=f"eio-{sid}")
        manager.basic_enter_room(sid, "/chat", sid)  # as python-socketio's connect does
        manager.basic_enter_room(sid, "/chat", wire.room(user))
    return manager, server, confirmed, fan


async def test_a_bundle_from_another_node_reaches_this_nodes_sockets_and_confirms():
    manager, server, confirmed, _ = manager_with({"s1": VENDOR, "s2": VENDOR})
    text = '2/chat,["receiveMessage",{"n":1}]'
    item = ["/chat", text, [wire.room(CUSTOMER), wire.room(VENDOR)],
            [[wire.room(VENDOR), "m1"], [wire.room(CUSTOMER), "m1"]]]
    await manager.receive(orjson.dumps([item, ["/chat", text, [wire.room(CUSTOMER)]]]))
    assert sorted(server.sent) == [("eio-s1", text), ("eio-s2", text)]
    # The vendor's room was written to (twice: confirmed once); the customer has no socket
    # here: not confirmed.
    assert confirmed == [(wire.room(VENDOR), "m1")]


async def test_a_socket_that_fails_is_not_a_delivery():
    manager, server, confirmed, _ = manager_with({"s1": VENDOR})
    server.broken.add("eio-s1")
    await manager.receive(orjson.dumps([["/chat", "2/chat,[\"x\"]", [wire.room(VENDOR)],
                                         [[wire.room(VENDOR), "m1"]]]]))
    assert confirmed == []


async def test_a_socket_that_is_disconnecting_or_closing_is_not_a_delivery():
    manager, server, confirmed, _ = manager_with({"s1": VENDOR, "s2": VENDOR})
    manager.pre_disconnect("s1", "/chat")  # its disconnect handlers are running
    server.eio.sockets["eio-s2"].closing = True  # its Engine.IO session is closing
    await manager.receive(orjson.dumps([["/chat", "2/chat,[\"x\"]", [wire.room(VENDOR)],
                                         [[wire.room(VENDOR), "m1"]]]]))
    assert confirmed == []


async def test_a_local_emit_is_delivered_then_published_for_its_users_only():
    manager, server, confirmed, fan = manager_with({"s1": CUSTOMER})
    await manager.emit("receiveMessage", {"n": 1}, "/chat",
                       to=[wire.room(CUSTOMER), wire.room(VENDOR)], skip_sid="s1",
                       confirm=[(wire.room(VENDOR), "m1")])
    assert server.sent == []  # the asker is skipped
    assert confirmed == []
    [(payload, targets)] = fan._queue
    assert targets == [(CUSTOMER, Channel.CHAT), (VENDOR, Channel.CHAT)]
    assert orjson.loads(payload) == ["/chat", '2/chat,["receiveMessage",{"n":1}]',
                                     [wire.room(CUSTOMER), wire.room(VENDOR)],
                                     [[wire.room(VENDOR), "m1"]]]
    await manager.emit("appError", {"n": 2}, "/chat", to="s1")
    assert len(fan._queue) == 1  # a sid is this node's own: nothing to publish
    assert server.sent == [("eio-s1", '2/chat,["appError",{"n":2}]')]


async def test_malformed_items_are_dropped_and_the_rest_delivered():
    manager, server, _, _ = manager_with({"s1": VENDOR})
    good = ["/chat", "2/chat,[\"ok\"]", [wire.room(VENDOR)]]
    await manager.receive(orjson.dumps([[1], "x", good]))
    await manager.receive(b'{"not": "a list"}')
    assert server.sent == [("eio-s1", "2/chat,[\"ok\"]")]


def pending_message(message_id: str) -> Message:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Message(id=message_id, chat_id="c1", seq=int(message_id[1:]), sender=CUSTOMER,
                   recipient=VENDOR, text="hi", images=(), created_at=at, updated_at=at,
                   awaiting_delivery=True)


class CountingRepository(InMemoryMessageRepository):
    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[UserRef, list[str]]] = []

    async def mark_delivered(self, recipient: UserRef, message_ids: Any, at: datetime) -> None:
        self.marks.append((recipient, list(message_ids)))
        await super().mark_delivered(recipient, message_ids, at)


async def test_the_confirmations_of_one_round_are_one_write_per_recipient():
    messages = CountingRepository()
    for n in range(1, 4):
        await messages.add(pending_message(f"m{n}"))
    clock = FakeClock()
    confirmations = DeliveryConfirmations(ConfirmDeliveriesHandler(messages=messages,
                                                                   clock=clock))
    for n in range(1, 4):
        confirmations.add(wire.room(VENDOR), f"m{n}")
    confirmations.add("someSid", "m1")  # not a user's room: ignored
    await confirmations.close()
    assert messages.marks == [(VENDOR, ["m1", "m2", "m3"])]
    assert await messages.undelivered(VENDOR, 10) == []
    stored = await messages.get("m1")
    assert stored is not None and stored.delivered_at == clock.now()


@pytest.fixture(autouse=True)
def _library_json() -> Any:
    saved = packet.Packet.json
    yield
    packet.Packet.json = saved


