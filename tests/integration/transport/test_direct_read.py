"""Text frames read straight from uvicorn's protocol (``engine_frames.DirectReadProtocol``
and ``engine_reading.FrameReader``): whatever way the bytes arrive (one at a time, many
frames in one segment, a frame cut anywhere, control frames and fragmented messages between
them, frames over the fast path's size), every event is handled once and in order."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

import pytest
from dependency_injector import providers
from engine_support import connect_packet, in_process
from service_support import new_id, passed_through

from chat_server.adapters.memory import InMemoryChatRepository
from chat_server.entrypoints.container import Container
from chat_server.entrypoints.socketio import engine_frames, engine_reading

pytestmark = pytest.mark.skipif(passed_through().get("CHAT_TRANSPORT_IMPL") == "stock",
                                reason="the stock transport reads through websockets' parser")

# Frames over 64 KiB are the websockets parser's; the packet limit lets them in.
NO_LIMITS = {"CHAT_SEND_RATE": "off", "CHAT_REQUEST_RATE": "off",
             "CHAT_MAX_PACKET_BYTES": "262144"}


def client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """A client's frame: masked (RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    if size < 126:
        head += bytes((0x80 | size,))
    elif size < 65536:
        head += bytes((0x80 | 126,)) + struct.pack("!H", size)
    else:
        head += bytes((0x80 | 127,)) + struct.pack("!Q", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawSocket:
    """An Engine.IO WebSocket over a plain TCP connection, written byte by byte if need be."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the server (opcode, payload): unmasked, unfragmented."""
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return first & 0x0F, await self.reader.readexactly(size)

    async def text(self) -> str:
        while True:
            opcode, payload = await asyncio.wait_for(self.frame(), 10)
            if opcode == 0x1 and payload == b"2":  # the Engine.IO heartbeat
                self.writer.write(client_frame(b"3"))
            elif opcode == 0x1:
                return payload.decode()
            assert opcode == 0xA, (opcode, payload)  # a PONG to our PING

    async def connect_chat(self) -> None:
        """Opens /presence, then /chat, and waits until their set-up is over (the chat list
        came)."""
        assert (await self.text()).startswith("0{")
        user_id = new_id()
        self.writer.write(client_frame(connect_packet("/presence", "customer", user_id).encode()))
        while not (await self.text()).startswith("40/presence,"):
            pass
        self.writer.write(client_frame(connect_packet("/chat", "customer", user_id).encode()))
        while not (await self.text()).startswith("42/chat,[\"userChats\""):
            pass

    async def acks(self, count: int) -> list[int]:
        """The ids of the next ``count`` acks, in the order they came."""
        ids: list[int] = []
        while len(ids) < count:
            text = await self.text()
            if text.startswith("43/chat,"):
                body = text[len("43/chat,"):]
                ids.append(int(body[:body.index("[")]))
        return ids

    async def send_in_pieces(self, data: bytes, sizes: list[int], pause: float = 0.002
                             ) -> None:
        """Writes ``data`` cut into pieces of the given sizes (cycled), each on its own."""
        offset, n = 0, 0
        while offset < len(data):
            piece = data[offset:offset + sizes[n % len(sizes)]]
            self.writer.write(piece)
            await self.writer.drain()
            await asyncio.sleep(pause)  # its own segment, most of the time
            offset, n = offset + len(piece), n + 1

    async def close(self) -> None:
        self.writer.close()


class SlowChats(InMemoryChatRepository):
    """Chats of which every fourth page takes a few milliseconds, as a database's would:
    that ``getUserChats`` handler suspends."""

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0

    async def page_for(self, *args: Any, **kwargs: Any) -> Any:
        self.pages += 1
        if self.pages % 4 == 0:
            await asyncio.sleep(0.003)
        return await super().page_for(*args, **kwargs)


def event(ack_id: int, name: str = "getUserChats", *args: Any) -> bytes:
    return f"42/chat,{ack_id}{json.dumps([name, *args])}".encode()


def mixed_stream(count: int, large: bool) -> bytes:
    """``count`` events with acks 1..count: most plain frames, and between them a PING, a
    message in two fragments and (when ``large``) frames over 64 KiB, all three for the
    websockets parser."""
    data = b""
    for n in range(1, count + 1):
        if n % 7 == 0:
            data += client_frame(b"probe", opcode=0x9)  # a WebSocket PING
        if n % 11 == 0:
            whole = event(n)
            data += client_frame(whole[:5], fin=False) + client_frame(whole[5:], opcode=0x0)
        elif large and n % 13 == 0:
            data += client_frame(event(n, "getUserChats", {"pad": "x" * 70_000}))
        else:
            data += client_frame(event(n))
    return data


@pytest.mark.parametrize("sizes", [[1], [3, 1, 7], [4096], [1 << 20]],
                         ids=["bytewise", "ragged", "segments", "one-write"])
async def test_every_event_is_answered_once_and_in_order_however_the_bytes_arrive(
    sizes: list[int], mocker: Any,
):
    direct = mocker.spy(engine_reading.FrameReader, "__call__")
    async with in_process(NO_LIMITS) as srv:
        ws = await RawSocket.open(srv.url)
        await ws.connect_chat()
        bytewise = max(sizes) < 8  # 70 KB frames a few bytes at a time would take minutes
        count = 40 if bytewise else 120
        sending = asyncio.create_task(ws.send_in_pieces(mixed_stream(count, not bytewise), sizes))
        assert await ws.acks(count) == list(range(1, count + 1))
        await sending
        await ws.close()
    # Both ways are taken, bytewise too: a frame cut by a segment's end is held until its
    # rest comes, then goes the direct way (2: the CONNECTs; fragments and PINGs never do).
    assert 0 < direct.call_count - 2 < count, direct.call_count


async def test_a_handler_that_suspends_keeps_its_place_before_the_frames_behind_it(
    mocker: Any,
):
    """A handler that awaits something real (storage I/O on MongoDB) finishes in the reader
    task; the frames that came meanwhile wait behind it, however they arrived."""

    def slow_storage(container: Container) -> None:
        container.storage.chats.override(providers.Object(SlowChats()))

    resumed = mocker.spy(engine_reading, "run_to_end")
    async with in_process(NO_LIMITS, customize=slow_storage) as srv:
        ws = await RawSocket.open(srv.url)
        await ws.connect_chat()
        count = 60
        stream = b"".join(client_frame(event(n)) for n in range(1, count + 1))
        # Slower than the handlers: the direct way comes back once the queue is drained.
        sending = asyncio.create_task(ws.send_in_pieces(stream, [1, 90, 400], pause=0.02))
        assert await ws.acks(count) == list(range(1, count + 1))
        await sending
        await ws.close()
    assert resumed.call_count >= 3  # handlers stepped in the protocol, finished by the reader


async def test_a_frame_of_invalid_utf8_closes_the_connection_as_websockets_does():
    async with in_process(NO_LIMITS) as srv:
        ws = await RawSocket.open(srv.url)
        await ws.connect_chat()
        ws.writer.write(client_frame(event(1)) + client_frame(b"42/chat,2[\"\xff\xfe\"]"))
        assert await ws.acks(1) == [1]
        while True:
            opcode, payload = await asyncio.wait_for(ws.frame(), 10)
            if opcode == 0x8:
                assert struct.unpack("!H", payload[:2])[0] == 1007
                break
        await ws.close()


async def test_the_answers_to_one_read_are_written_together_and_in_order(mocker: Any):
    """The acks of frames that came in one segment are written in one go; a close frame
    behind them (websockets answers it at once) still comes after them."""
    held = mocker.spy(engine_frames, "_write_held")
    async with in_process(NO_LIMITS) as srv:
        ws = await RawSocket.open(srv.url)
        await ws.connect_chat()
        held.reset_mock()
        count = 30
        ws.writer.write(b"".join(client_frame(event(n)) for n in range(1, count + 1))
                        + client_frame(struct.pack("!H", 1000), opcode=0x8))
        acks: list[int] = []
        while (frame := await asyncio.wait_for(ws.frame(), 10))[0] != 0x8:
            if frame[1].startswith(b"43/chat,"):
                acks.append(int(frame[1][8:frame[1].index(b"[")]))
        assert frame[1][:2] == struct.pack("!H", 1000)
        assert acks == list(range(1, count + 1))  # all of them before the close
        await ws.close()
    # However TCP cut the bytes, fewer writes than acks, and at least one held several.
    frames = [len(call.args[1]) for call in held.call_args_list]
    assert sum(frames) >= count and len(frames) < count and max(frames) > 1, frames
