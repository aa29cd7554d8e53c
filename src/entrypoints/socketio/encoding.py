"""Socket.IO text packets written directly, and a send's envelope encoded once.

python-socketio's ``Packet`` walks every payload recursively for binary attachments
before encoding it (7 % of the message path in the 2026-11-24 profile); the service never
sends binary data, so its EVENT and ACK packets are written here: ``2/chat,[...]`` and
``3/chat,12[...]`` (Socket.IO v4: type, namespace unless "/", ack id, JSON). A payload that
orjson cannot encode (bytes ...) is refused with ``TypeError`` and the caller falls back to
the library's encoder.

A send's ack and its ``receiveMessage`` to the user's other devices carry the same envelope
object (``wire.message_received`` returns the one it built for the message last asked):
``EncodedBodies`` remembers the JSON of the last body it encoded, by identity, so the second
packet reuses it.
"""

from __future__ import annotations

from typing import Any

import orjson


class EncodedBodies:
    """The JSON text of a body, computed once for the same object asked twice in a row."""

    __slots__ = ("_body", "_text")

    def __init__(self) -> None:
        self._body: object = None
        self._text = "null"

    def text(self, body: Any) -> str:
        if body is self._body and body is not None:
            return self._text
        text = orjson.dumps(body).decode()
        # A strong reference: the object cannot die and its id be reused while cached.
        self._body, self._text = body, text
        return text


def _prefix(packet_type: str, namespace: str) -> str:
    return packet_type if namespace == "/" else f"{packet_type}{namespace},"


def event_packet(namespace: str, event: str, body_texts: list[str]) -> str:
    """An EVENT packet: ``[event, *bodies]`` after the namespace."""
    name = orjson.dumps(event).decode()
    return f"{_prefix('2', namespace)}[{','.join([name, *body_texts])}]"


def ack_packet(namespace: str, ack_id: int, body_text: str) -> str:
    return f"{_prefix('3', namespace)}{ack_id}[{body_text}]"
