"""Checks what the server sends against docs/asyncapi.yaml, the AsyncAPI 3.0 document of
the Socket.IO protocol, so that the document cannot drift from the server.

``validate_server_event(namespace, event, payload)`` checks an emitted event (``connect_error``
included) against the messages of the document's ``send`` operations on that namespace;
``validate_ack(namespace, client_event, payload)`` checks an ack against the ``reply`` of the
``receive`` operation of that client event. Both raise an ``AssertionError`` that names the
event, the message it was checked against and where the payload and the schema disagree;
an event the document does not define fails too.

The document is read as written (YAML, ``$ref``s resolved by ``referencing`` against the
document itself); the schemas are plain JSON Schema, validated as draft 2020-12.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
BASE_URI = "urn:chat-server:asyncapi"

# Known deviations of the server from the contract: (namespace, event, JSON path of the
# instance) that a failing check may name and still pass. Each entry says why and is
# reported to the lead; the schema keeps describing the contract. Empty: none are known.
KNOWN_DEVIATIONS: frozenset[tuple[str, str, str]] = frozenset()


def load_document(path: Path = DOCUMENT_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def resolve_pointer(document: dict[str, Any], ref: str) -> tuple[str, Any]:
    """Follows a local ``$ref`` (``#/a/b``) and the ``$ref``s it lands on; returns the
    final JSON pointer and the node there."""
    seen = set()
    while True:
        assert ref.startswith("#/"), f"only local references are used, not {ref!r}"
        assert ref not in seen, f"$ref cycle at {ref!r}"
        seen.add(ref)
        node: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, f"$ref {ref!r} points nowhere"
            node = node[part]
        if isinstance(node, dict) and set(node) == {"$ref"}:
            ref = node["$ref"]
            continue
        return ref, node


class Contract:
    """The document, indexed by (namespace, event name)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._registry: Registry[Any] = Registry().with_resource(
            BASE_URI, Resource.from_contents(document, default_specification=DRAFT202012))
        # (namespace, server event) -> [(message pointer, message)]
        self.server_events: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        # (namespace, client event) -> [(ack message pointer, message)]
        self.client_events: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        # (namespace, client event) -> [(payload message pointer, message)]
        self.client_payloads: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        self._validators: dict[str, Any] = {}
        for operation in document["operations"].values():
            _, channel = resolve_pointer(document, operation["channel"]["$ref"])
            namespace = channel["address"]
            for ref in operation["messages"]:
                pointer, message = resolve_pointer(document, ref["$ref"])
                key = (namespace, message["name"])
                if operation["action"] == "send":
                    self.server_events.setdefault(key, []).append((pointer, message))
                else:
                    self.client_payloads.setdefault(key, []).append((pointer, message))
                    reply = operation.get("reply", {}).get("messages", [])
                    self.client_events[key] = [resolve_pointer(document, m["$ref"])
                                               for m in reply]

    def _validator(self, message_pointer: str) -> Any:
        validator = self._validators.get(message_pointer)
        if validator is None:
            schema = {"$ref": f"{BASE_URI}{message_pointer}/payload"}
            validator = jsonschema.Draft202012Validator(schema, registry=self._registry)
            self._validators[message_pointer] = validator
        return validator

    def _check(self, namespace: str, event: str, what: str,
               candidates: Iterable[tuple[str, dict[str, Any]]], payload: Any) -> None:
        """Passes when ``payload`` matches one of the candidate messages."""
        failures = []
        for pointer, message in candidates:
            errors = list(self._validator(pointer).iter_errors(payload))
            if all((namespace, event, e.json_path) in KNOWN_DEVIATIONS for e in errors):
                return
            best = jsonschema.exceptions.best_match(errors)
            assert best is not None
            failures.append(
                f"  as {message.get('title', pointer)} ({pointer}): at {best.json_path}: "
                f"{_short(best.message)}\n    schema: "
                f"{self._schema_location(pointer, best.absolute_schema_path)}")
        raise AssertionError(
            f"{what} {event!r} on {namespace} does not match {DOCUMENT_PATH.name}:\n"
            + "\n".join(failures) + f"\n  payload: {_short(repr(payload), 600)}")

    def _schema_location(self, message_pointer: str, path: Iterable[str | int]) -> str:
        """The JSON pointer in the document of the keyword that failed (the validator's
        schema path leaves out the ``$ref``s it followed)."""
        location, node = resolve_pointer(self.document, f"{message_pointer}/payload")
        for part in path:
            while isinstance(node, dict) and part not in node and "$ref" in node:
                location, node = resolve_pointer(self.document, node["$ref"])
            if part == "$ref" or not isinstance(node, dict | list):
                continue
            try:
                node = node[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                break
            location = f"{location}/{part}"
        return location

    def validate_server_event(self, namespace: str, event: str, payload: Any) -> None:
        candidates = self.server_events.get((namespace, event))
        if candidates is None:
            raise AssertionError(
                f"server event {event!r} on {namespace} is not in {DOCUMENT_PATH.name} "
                f"(documented: {sorted(e for ns, e in self.server_events if ns == namespace)})")
        self._check(namespace, event, "server event", candidates, payload)

    def validate_ack(self, namespace: str, client_event: str, payload: Any) -> None:
        candidates = self.client_events.get((namespace, client_event))
        if candidates is None:
            raise AssertionError(
                f"client event {client_event!r} on {namespace} is not in {DOCUMENT_PATH.name} "
                f"(documented: {sorted(e for ns, e in self.client_events if ns == namespace)})")
        self._check(namespace, client_event, "ack of", candidates, payload)

    def validate_accepted_payload(self, namespace: str, client_event: str, payload: Any
                                  ) -> None:
        """A payload the server accepted (its ack is a success) matches the documented
        payload schema: the schema is not stricter than the server."""
        self._check(namespace, client_event, "accepted payload of",
                    self.client_payloads[(namespace, client_event)], payload)

    def validate_error_ack(self, namespace: str, client_event: str, payload: Any) -> None:
        """The ack of an event the namespace does not define: an ``appError`` envelope."""
        self._check(namespace, client_event, "ack of undocumented event",
                    self.server_events[(namespace, "appError")], payload)

    def is_client_event(self, namespace: str, event: str) -> bool:
        return (namespace, event) in self.client_events


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


@functools.cache
def contract() -> Contract:
    return Contract(load_document())


def validate_server_event(namespace: str, event: str, payload: Any) -> None:
    contract().validate_server_event(namespace, event, payload)


def validate_ack(namespace: str, client_event: str, payload: Any) -> None:
    contract().validate_ack(namespace, client_event, payload)
