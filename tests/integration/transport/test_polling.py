"""Long-polling sessions that misbehave: oversized POSTs, overlapping polls, a session that
never collects (src/entrypoints/socketio/engine_socket.py). The service runs in this
process so that its Engine.IO sessions and asyncio tasks can be counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from engine_support import RawPolling, connect_packet, in_process
from service_support import new_id

LIMIT = 65536  # CHAT_MAX_PACKET_BYTES' default
SHORT_PINGS = {"CHAT_PING_INTERVAL_S": "0.3", "CHAT_PING_TIMEOUT_S": "0.3"}


async def _open(url: str) -> str:
    async with aiohttp.ClientSession() as http:
        session = RawPolling(http, url)
        assert await session.open() == 200
        assert session.sid is not None
        return session.sid


async def _raw_post(port: int, sid: str, headers: list[str], chunks: list[bytes]) -> int:
    """Sends a POST's head and the given body bytes, never the end of a chunked body, and
    returns the status of the answer (TimeoutError: no answer in 3 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                + "".join(f"{h}\r\n" for h in headers) + "\r\n")
        writer.write(head.encode())
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 3)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_a_post_declaring_more_than_the_packet_limit_is_answered_413_at_once_and_freed():
    """python-engineio 4.15.1 never answered it and kept the session and its task forever
    (its close waited for a poll that never came): 3,000 of them in 7 s, never released."""
    async with in_process() as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        baseline = srv.census()
        for _ in range(20):
            sid = await _open(srv.url)
            # Only the head: the answer must not wait for a body.
            status = await _raw_post(port, sid, [f"Content-Length: {LIMIT + 1}"], [])
            assert status == 413
        await srv.census_back_to(baseline)


async def test_a_chunked_post_past_the_limit_is_answered_413_before_its_end():
    async with in_process() as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        baseline = srv.census()
        sid = await _open(srv.url)
        piece = b"4" + b"x" * (LIMIT // 2)
        chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n"] * 3  # no final 0-chunk
        assert await _raw_post(port, sid, ["Transfer-Encoding: chunked"], chunks) == 413
        await srv.census_back_to(baseline)


async def test_a_chunked_post_within_the_limit_is_read_whole():
    async with in_process() as srv, aiohttp.ClientSession() as http:
        session = RawPolling(http, srv.url)
        assert await session.open() == 200

        connect = connect_packet("/presence", "customer", new_id()).encode()

        async def body() -> AsyncIterator[bytes]:  # aiohttp sends an async iterator chunked
            yield connect[:10]
            yield connect[10:]

        async with http.post(session.url, data=body()) as response:
            assert response.status == 200
        status, packets = await session.get()
        assert status == 200 and packets[0].startswith("40/presence,{\"sid\""), packets


async def test_a_second_concurrent_poll_is_refused_with_400_and_closes_the_session():
    """As Node's engine.io answers an "overlap from client"."""
    async with in_process() as srv:
        baseline = srv.census()
        async with aiohttp.ClientSession() as http:
            session = RawPolling(http, srv.url)
            assert await session.open() == 200
            assert await session.post(connect_packet("/presence", "customer", new_id())) == 200
            status, packets = await session.get()
            assert status == 200 and packets[0].startswith("40/presence,")
            first = asyncio.create_task(session.get())
            engine_session = srv.eio.sockets[session.sid]
            while not engine_session.polling:  # noqa: ASYNC110 - the fact: the GET is waiting
                await asyncio.sleep(0.01)
            status, _ = await asyncio.wait_for(session.get(), 3)
            assert status == 400
            status, packets = await asyncio.wait_for(first, 3)
            assert (status, packets) == (200, ["1"])  # the first poll learns of the close
            assert await session.post("3") == 400
        await srv.census_back_to(baseline)


async def test_a_polling_session_that_never_collects_is_closed_whatever_it_posts():
    """The measured leak: a client that never GETs but keeps its session alive with
    unsolicited PONGs in its POSTs made the stock server grow ~11 MB/s. A PONG counts only
    after a PING that a GET returned, so the session ends at pingInterval + pingTimeout."""
    async with in_process(SHORT_PINGS) as srv:
        baseline = srv.census()
        async with aiohttp.ClientSession() as http:
            session = RawPolling(http, srv.url)
            assert await session.open() == 200
            assert (session.handshake["pingInterval"], session.handshake["pingTimeout"]) == (
                300, 300)
            opened = asyncio.get_running_loop().time()
            assert await session.post(connect_packet("/presence", "customer", new_id())) == 200
            while await session.post("3") == 200:
                elapsed = asyncio.get_running_loop().time() - opened
                assert elapsed < 0.6 + 1.5, "the session is still open"
                await asyncio.sleep(0.05)
            assert asyncio.get_running_loop().time() - opened >= 0.6 - 0.05
        await srv.census_back_to(baseline)


async def _leave_during_a_post(port: int, sid: str, body: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\nContent-Length: 100\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_a_post_whose_client_leaves_is_dropped_quietly(caplog: pytest.LogCaptureFixture):
    """Before its first body byte: nothing happened, the session stays (python-engineio
    failed on it with a traceback). Within its body: the session is closed, as Node's
    engine.io does ("data request connection closed prematurely")."""
    async with in_process() as srv, aiohttp.ClientSession() as http:
        port = int(srv.url.rsplit(":", 1)[1])
        baseline = srv.census()
        session = RawPolling(http, srv.url)
        assert await session.open() == 200
        await _leave_during_a_post(port, str(session.sid), b"")
        assert await session.post("3") == 200  # still open
        await _leave_during_a_post(port, str(session.sid), b"4")
        deadline = asyncio.get_running_loop().time() + 3
        while await session.post("3") == 200:
            assert asyncio.get_running_loop().time() < deadline, "the session is still open"
            await asyncio.sleep(0.02)
        await srv.census_back_to(baseline)
    assert "Exception in ASGI application" not in caplog.text
