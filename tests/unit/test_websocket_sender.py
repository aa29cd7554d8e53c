"""The lean WebSocket's sending half (src/entrypoints/socketio/engine_websocket.py) on a fake
ASGI WebSocket that behaves as uvicorn's does: ``send`` awaits the protocol's ``writable``
event, then writes synchronously; its transport can be aborted."""

from __future__ import annotations

import asyncio
from typing import Any

from chat_server.entrypoints.socketio.engine_websocket import ENTRY_OVERHEAD, WebSocketSender


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class FakeProtocol:
    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.transport = FakeTransport()
        self.written: list[Any] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        self.written.append(message.get("text", message.get("bytes", message["type"])))


class OnceSuspending:
    """An ASGI send with no ``writable`` to look at, that suspends on its first call."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.written: list[Any] = []

    async def send(self, message: dict[str, Any]) -> None:
        if not self.written:
            await self.release.wait()
        self.written.append(message.get("text"))


def _sender(send: Any, limit: int = 10_000) -> tuple[WebSocketSender, list[int]]:
    pings: list[int] = []
    return WebSocketSender(send, limit, lambda: pings.append(1)), pings


async def _drained(sender: WebSocketSender) -> None:
    while sender._writer is not None:  # noqa: ASYNC110 - the fact: the writer task ended
        await asyncio.sleep(0)


async def test_a_writable_socket_is_written_at_once_without_a_task():
    protocol = FakeProtocol()
    sender, _ = _sender(protocol.send)
    tasks = len(asyncio.all_tasks())
    assert sender.write("4a") and sender.write(b"\x00") and sender.write_ping()
    assert protocol.written == ["4a", b"\x00", "2"]
    assert len(asyncio.all_tasks()) == tasks and sender._writer is None


async def test_a_stalled_socket_queues_in_order_within_its_bound_then_drains():
    protocol = FakeProtocol()
    sender, pings = _sender(protocol.send, limit=3 * (100 + ENTRY_OVERHEAD))
    protocol.writable.clear()
    frames = [f"4{n}".ljust(100, "x") for n in range(3)]
    assert all(sender.write(frame) for frame in frames)
    assert not sender.write_ping()  # queued; reported once it is written
    assert not sender.write("4 over the bound")
    assert sender.write("4 a control packet", bounded=False)
    assert protocol.written == [] and sender.backlog_bytes > 3 * 100
    protocol.writable.set()
    await _drained(sender)
    assert protocol.written == [*frames, "2", "4 a control packet"]
    assert pings == [1] and sender.backlog_bytes == 0


async def test_one_frame_larger_than_the_bound_passes_an_empty_backlog():
    protocol = FakeProtocol()
    sender, _ = _sender(protocol.send, limit=1000)
    protocol.writable.clear()
    assert sender.write("4" + "x" * 5000)
    assert not sender.write("4y")
    protocol.writable.set()
    await _drained(sender)
    assert protocol.written == ["4" + "x" * 5000]


async def test_a_send_that_suspends_is_finished_by_the_writer_and_later_frames_follow():
    send = OnceSuspending()
    sender, pings = _sender(send.send)
    assert sender.write("4first")
    assert sender._writer is not None  # it suspended: the writer task took it over
    assert sender.write("4second") and not sender.write_ping()
    send.release.set()
    await _drained(sender)
    assert send.written == ["4first", "4second", "2"] and pings == [1]


async def test_abort_drops_the_backlog_and_cuts_the_transport():
    protocol = FakeProtocol()
    sender, _ = _sender(protocol.send)
    protocol.writable.clear()
    sender.write("4a")
    writer = sender._writer
    assert writer is not None
    sender.abort()
    assert protocol.transport.aborted and sender.backlog_bytes == 0 and sender.closed
    await asyncio.sleep(0)
    assert writer.cancelled()
    assert sender.write("4b")  # after the end, writes are dropped
    protocol.writable.set()
    await asyncio.sleep(0)
    assert protocol.written == []


async def test_close_goes_after_the_backlog_and_aborts_if_it_does_not_drain_in_time():
    protocol = FakeProtocol()
    sender, _ = _sender(protocol.send)
    protocol.writable.clear()
    sender.write("4a")
    sender.close(linger=0.05)
    assert not protocol.transport.aborted
    await asyncio.sleep(0.1)  # the linger is what is tested
    assert protocol.transport.aborted and protocol.written == []
    drained = FakeProtocol()
    sender, _ = _sender(drained.send)
    drained.writable.clear()
    sender.write("4a")
    sender.close(linger=5)
    drained.writable.set()
    await _drained(sender)
    assert drained.written == ["4a", "websocket.close"] and not drained.transport.aborted
    assert sender._linger is None
