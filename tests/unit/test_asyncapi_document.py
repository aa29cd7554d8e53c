"""docs/asyncapi.yaml, the AsyncAPI 3.0 document of the Socket.IO protocol, as a document:
valid against the official AsyncAPI 3.0.0 JSON Schema (vendored in asyncapi_spec/, see its
README), internally consistent, covering every route of the server, and matching what
wire.py writes. The integration tests check the real server's envelopes against it
(tests/integration/asyncapi_support.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from asyncapi_support import Contract, load_document, resolve_pointer

from chat_server.application.events import ReadReceipt
from chat_server.application.ports import ChatCursor, UnreadTotals
from chat_server.application.use_cases import ChatPage, ChatWithMessages
from chat_server.domain.model import Chat, Message, ProductSnapshot, UserRef, UserType
from chat_server.entrypoints.container import build_container
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio import wire
from chat_server.entrypoints.socketio.notifier import CHAT, PRESENCE
from chat_server.entrypoints.socketio.routes import build_routes, user_chats_envelope

ASYNCAPI_3_SCHEMA = Path(__file__).with_name("asyncapi_spec") / "3.0.0.json"
# Keywords of AsyncAPI's Schema Object or of OpenAPI that plain JSON Schema validators do
# not know: the schemas must not need them.
NOT_JSON_SCHEMA = {"discriminator", "nullable", "externalDocs", "xml"}

CUSTOMER = UserRef(UserType.CUSTOMER, 7)
VENDOR = UserRef(UserType.VENDOR, 2)
AT = datetime(2025, 2, 27, 10, 43, 41, 905_000, tzinfo=UTC)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document()


@pytest.fixture(scope="module")
def contract(document: dict[str, Any]) -> Contract:
    return Contract(document)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from keys(value)


def test_the_document_is_an_asyncapi_3_document_of_the_two_namespaces(document):
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {PRESENCE, CHAT}


def test_the_document_is_valid_against_the_official_asyncapi_3_schema(document):
    schema = json.loads(ASYNCAPI_3_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(document))
    assert error is None, f"at {error.json_path}: {error.message[:500]}"


def test_the_official_schema_rejects_a_broken_document(document):
    """The check above can fail: an operation with an unknown action is refused."""
    schema = json.loads(ASYNCAPI_3_SCHEMA.read_text(encoding="utf-8"))
    broken = {**document, "operations": {**document["operations"]}}
    broken["operations"]["chatReceiveJoinChat"] = {
        **document["operations"]["chatReceiveJoinChat"], "action": "listen"}
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_every_reference_resolves(document):
    for ref in refs(document):
        resolve_pointer(document, ref)  # raises on a reference that points nowhere


def test_every_operation_uses_messages_of_its_channel(document):
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        assert operation["messages"], name
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), (name, message)
        reply = operation.get("reply")
        if operation["action"] == "receive":
            assert reply is not None, f"{name}: a client event is acked"
        if reply is not None:
            for message in reply["messages"]:
                assert message["$ref"].startswith(f"{reply['channel']['$ref']}/messages/"), name


def test_every_message_is_used(document):
    used = {ref for operation in document["operations"].values() for ref in refs(operation)}
    for key, channel in document["channels"].items():
        for message in channel["messages"]:
            assert f"#/channels/{key}/messages/{message}" in used, (key, message)
    in_channels = set(refs(document["channels"]))
    for message in document["components"]["messages"]:
        assert f"#/components/messages/{message}" in in_channels, message


def test_every_client_event_is_acked_with_its_reply_or_app_error(contract):
    for (namespace, event), replies in contract.client_events.items():
        names = [message.get("name") for _, message in replies]
        assert names[-1] == "appError", (namespace, event, names)
        assert len(names) >= 2, (namespace, event)


def test_the_schemas_are_plain_json_schema(document):
    schemas = dict(document["components"]["schemas"])
    for key, message in document["components"]["messages"].items():
        schemas[f"message {key}"] = message["payload"]
    for name, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft7Validator.check_schema(schema)
        unknown = {k for k in keys(schema) if k.startswith("x-") or k in NOT_JSON_SCHEMA}
        assert not unknown, (name, unknown)


def test_every_example_matches_its_message(document, contract):
    examples = 0
    for key, message in document["components"]["messages"].items():
        for example in message.get("examples", []):
            pointer = f"#/components/messages/{key}"
            error = jsonschema.exceptions.best_match(
                contract._validator(pointer).iter_errors(example["payload"]))
            assert error is None, (key, example.get("name"), error.json_path, error.message)
            examples += 1
    assert examples >= 5


def routed_events() -> set[tuple[str, str]]:
    container = build_container(Settings(jwt_secret="unit-tests-secret-0123456789"))
    routes = build_routes(container.use_cases())
    return {(namespace, name) for namespace, table in routes.items() for name in table}


def test_every_route_of_the_server_is_a_documented_client_event(contract):
    """A client event cannot be added to build_routes without documenting it."""
    routed = routed_events()
    assert (CHAT, "sendMessage") in routed and (PRESENCE, "checkOnlinePresence") in routed
    missing = routed - set(contract.client_events)
    assert not missing, f"routes without an operation in docs/asyncapi.yaml: {sorted(missing)}"


def test_every_documented_client_event_is_routed(contract):
    assert set(contract.client_events) <= routed_events(), sorted(
        set(contract.client_events) - routed_events())


# --- what wire.py writes matches the document ------------------------------------------

def message(sender: UserRef | None, **changes: Any) -> Message:
    fields: dict[str, Any] = dict(
        id="67c0502f6da67b3433a7258a", chat_id="67c04c9f108c8c9aa29b1d11", seq=1,
        sender=sender, recipient=None if sender is None else (VENDOR if sender == CUSTOMER
                                                               else CUSTOMER),
        text="Is this still available?", images=(), created_at=AT, updated_at=AT,
        system_audience=() if sender else (CUSTOMER, VENDOR))
    fields.update(changes)
    return Message(**fields)


def chat() -> Chat:
    return Chat("67c04c9f108c8c9aa29b1d11", "sku-1", CUSTOMER.id, VENDOR.id,
                ProductSnapshot(product_name="Headphones", product_price=299.99,
                                product_image_url="https://example.com/p.jpg"),
                AT, AT, AT)


def test_the_wire_format_matches_the_document(contract):
    receipt = ReadReceipt(chat().id, VENDOR, AT, ["67c0502f6da67b3433a7258a"], 1,
                          (CUSTOMER, VENDOR))
    nothing_read = ReadReceipt(chat().id, VENDOR, None, [], 0, (CUSTOMER, VENDOR))
    page = ChatPage([ChatWithMessages(chat(), [message(CUSTOMER)])],
                    ChatCursor(AT, chat().id), UnreadTotals(total=3, chats=1))
    events = [
        (CHAT, "receiveMessage", wire.message_received(message(CUSTOMER))),
        (CHAT, "receiveMessage", wire.message_received(
            message(None, images=("https://example.com/a.png",), text=None,
                    client_message_id="order-1", read_at=AT, delivered_at=AT))),
        (CHAT, "newChat", wire.chat_opened(chat(), message(VENDOR), CUSTOMER)),
        (CHAT, "newChat", wire.chat_opened(chat(), None, VENDOR)),
        (CHAT, "chatUpdated", wire.chat_updated(chat(), CUSTOMER)),
        (CHAT, "updateReadReceipts", wire.read_receipt(receipt)),
        (CHAT, "updateReadReceipts", wire.read_receipt(nothing_read)),
        (CHAT, "messageDeleted", wire.message_deleted(chat().id, message(CUSTOMER).id)),
        (CHAT, "userTyping", wire.typing(chat().id, CUSTOMER, True)),
        (CHAT, "stoppedTyping", wire.typing(chat().id, CUSTOMER, False)),
        (CHAT, "userChats", user_chats_envelope(page, CUSTOMER)),
        (CHAT, "offlineMessages", wire.envelope(
            "Offline messages has been sent successfully",
            [wire.message_json(message(CUSTOMER))], hasMore=False)),
        (PRESENCE, "onlinePresence", wire.presence(VENDOR, True, None)),
        (PRESENCE, "onlinePresence", wire.presence(VENDOR, False, AT)),
        (PRESENCE, "userIsOnline", wire.user_online(VENDOR)),
        (PRESENCE, "userIsOffline", wire.user_offline(VENDOR, AT)),
        (CHAT, "appError", wire.error_envelope(
            400, "Invalid data provided", "sendMessage", [{"field": "text", "message": "x"}])),
        (CHAT, "appError", wire.error_envelope(403, "User is not online. Connect to the "
                                               "/presence namespace first", "connect")),
    ]
    for namespace, event, body in events:
        contract.validate_server_event(namespace, event, json.loads(json.dumps(body)))


@pytest.mark.parametrize(("event", "body", "says"), [
    ("receiveMessage", wire.message_received(message(CUSTOMER, recipient=None)),
     "at $.data.recipientType"),
    ("receiveMessage", wire.message_received(message(CUSTOMER, text=None)),
     "schema: #/components/schemas/Message/"),
    ("appError", wire.error_envelope(400, "Invalid data provided", "joinChat"),
     "'errors' is a required property"),
    ("appError", wire.error_envelope(404, "Not here", "joinChat"), "at $.message"),
    ("userChats", wire.envelope("Chats have been sent successfully", []),
     "'nextCursor' is a required property"),
    ("noSuchEvent", wire.envelope("hello", {}), "is not in asyncapi.yaml"),
])
def test_a_mismatch_names_the_event_and_the_schema(contract, event, body, says):
    with pytest.raises(AssertionError) as failure:
        contract.validate_server_event(CHAT, event, json.loads(json.dumps(body)))
    assert repr(event) in str(failure.value)
    assert says in str(failure.value)


def test_an_ack_is_checked_against_the_reply_of_its_client_event(contract):
    contract.validate_ack(CHAT, "joinRooms", wire.envelope("User joined all chat rooms", {}))
    contract.validate_ack(CHAT, "joinRooms", wire.error_envelope(429, "Too many requests",
                                                                 "joinRooms"))
    with pytest.raises(AssertionError, match="joinRooms"):
        contract.validate_ack(CHAT, "joinRooms", wire.envelope("Chats have been loaded", {}))
    with pytest.raises(AssertionError, match="is not in"):
        contract.validate_ack(PRESENCE, "sendMessage", wire.envelope(None, {}))
