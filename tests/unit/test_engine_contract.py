"""The private parts of python-engineio, python-socketio and uvicorn that the engine layer
(src/entrypoints/socketio/engine*.py) overrides or reads: an upgrade that changes one of
them fails here, loudly, before anything subtler breaks. Upgrade deliberately: read the
new library code, adapt the engine, then this list."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
from typing import Any

import engineio
import pytest
import socketio
from engineio import async_socket, base_socket, packet, payload
from engineio.async_drivers import asgi
from uvicorn.protocols.websockets import websockets_sansio_impl

from chat_server.entrypoints.socketio.engine import ChatEngineServer
from chat_server.entrypoints.socketio.engine_socket import ChatEngineSocket
from chat_server.entrypoints.socketio.server import ChatSocketServer

VERSIONS = {name: importlib.metadata.version(name)
            for name in ("python-engineio", "python-socketio", "uvicorn")}


def _params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _source(function: Any) -> str:
    return inspect.getsource(function)


@pytest.mark.parametrize(("name", "params"), [
    ("poll", ["self"]),
    ("receive", ["self", "pkt"]),
    ("send", ["self", "pkt"]),
    ("check_ping_timeout", ["self"]),
    ("handle_get_request", ["self", "environ"]),
    ("handle_post_request", ["self", "environ"]),
    ("close", ["self", "wait", "abort", "reason"]),
    ("schedule_ping", ["self"]),
    ("_send_ping", ["self"]),
    ("_upgrade_websocket", ["self", "environ"]),
    ("_websocket_handler", ["self", "ws"]),  # the stock WebSocket handler (CHAT_TRANSPORT_IMPL)
])
def test_the_socket_methods_the_engine_overrides_keep_their_signatures(name: str,
                                                                       params: list[str]):
    assert _params(getattr(async_socket.AsyncSocket, name)) == params, VERSIONS
    assert _params(getattr(ChatEngineSocket, name)) == params


@pytest.mark.parametrize(("name", "params"), [
    ("_handle_connect", ["self", "environ", "transport", "jsonp_index"]),
    ("_make_response", ["self", "response_dict", "environ"]),
    ("_trigger_event", ["self", "event", "args", "kwargs"]),
    ("_cors_headers", ["self", "environ"]),
    ("_ok", ["self", "packets", "headers", "jsonp_index"]),
    ("_bad_request", ["self", "message"]),
    ("_unauthorized", ["self", "message"]),
    ("_upgrades", ["self", "sid", "transport"]),
    ("_generate_sid_cookie", ["self", "sid", "attributes"]),
    ("generate_id", ["self"]),
])
def test_the_server_methods_the_engine_overrides_or_calls_keep_their_signatures(
    name: str, params: list[str]
):
    assert _params(getattr(engineio.AsyncServer, name)) == params, VERSIONS


def test_the_library_still_routes_requests_through_the_overridden_methods():
    handle_request = _source(engineio.AsyncServer.handle_request)
    for call in ("self._handle_connect(environ, transport", "socket.handle_get_request(",
                 "socket.handle_post_request(environ)", "self._make_response(",
                 "except exceptions.EngineIOError:", "socket.upgraded"):
        assert call in handle_request, (call, VERSIONS)
    # What a WebSocket's handler returns ("") goes back as it is: the environ, which
    # engine_reading.serve empties, is not read again.
    tail = handle_request[handle_request.rindex("if not isinstance(r, dict):"):]
    assert tail.startswith("if not isinstance(r, dict):\n            return r"), VERSIONS
    assert "getattr(self, '_upgrade_' + transport)" in _source(
        async_socket.AsyncSocket.handle_get_request)
    assert "self._websocket_handler" in _source(async_socket.AsyncSocket._upgrade_websocket)
    # The stock WebSocket handler goes through the socket's poll, receive and close.
    handler = _source(async_socket.AsyncSocket._websocket_handler)
    for call in ("self.poll()", "self.receive(pkt)", "self.close(", "self.queue.put(None)"):
        assert call in handler, (call, VERSIONS)


async def test_the_socket_and_server_attributes_the_engine_reads_exist():
    server = engineio.AsyncServer(async_mode="asgi", ping_interval=1.5, ping_timeout=2)
    for name in ("ping_interval", "ping_timeout", "ping_interval_grace_period",
                 "max_http_buffer_size", "sockets", "handlers", "cookie", "start_service_task",
                 "logger"):
        assert hasattr(server, name), (name, VERSIONS)
    assert (server.ping_interval, server.ping_timeout) == (1.5, 2)
    for reason in ("SERVER_DISCONNECT", "CLIENT_DISCONNECT", "PING_TIMEOUT", "TRANSPORT_CLOSE",
                   "TRANSPORT_ERROR"):
        assert isinstance(getattr(server.reason, reason), str)
    assert server._async["websocket"] is asgi.WebSocket
    assert server._async["translate_request"] is asgi.translate_request
    sock = base_socket.BaseSocket(server, "sid")
    for name in ("queue", "connected", "upgrading", "upgraded", "closing", "closed", "session",
                 "upgrade_protocols"):
        assert hasattr(sock, name), (name, VERSIONS)
    assert isinstance(sock.queue, asyncio.Queue)
    assert sock.upgrade_protocols == ["websocket"]


async def test_the_asgi_environ_keeps_the_first_request_event_and_the_asgi_callables():
    first = {"type": "http.request", "body": b"4x", "more_body": True}

    async def receive() -> dict[str, Any]:
        return first

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {"type": "http", "path": "/socket.io/", "query_string": b"EIO=4", "headers": [],
             "method": "POST"}
    environ = await asgi.translate_request(scope, receive, send)
    assert environ["wsgi.input"].event is first, VERSIONS
    assert environ["asgi.receive"] is receive and environ["asgi.send"] is send


def test_requests_reach_the_engine_as_scope_receive_send():
    """ChatEngineServer.handle_request screens HTTP requests (413 from the headers, clients
    gone before their request) before the library's handle_request reads them."""
    assert "self.engineio_server.handle_request(scope, receive, send)" in _source(
        asgi.ASGIApp.__call__), VERSIONS
    assert "self.eio.handle_request(*args, **kwargs)" in _source(
        socketio.AsyncServer.handle_request)
    assert "translate_request(*args, **kwargs)" in _source(engineio.AsyncServer.handle_request)
    assert _params(ChatEngineServer.handle_request) == ["self", "scope", "receive", "send"]


def test_packets_and_payloads_work_as_the_engine_assumes():
    assert packet.Packet(packet.MESSAGE, b"\x00").binary
    assert packet.Packet(packet.MESSAGE, "2[]").encode() == "42[]"
    assert packet.Packet(packet.MESSAGE, b"\x01").encode(b64=True) == "bAQ=="
    assert payload.Payload.max_decode_packets == 16
    with pytest.raises(ValueError):
        payload.Payload(encoded_payload="x")


def test_python_socketio_builds_its_engine_through_the_hook_and_passes_options_on():
    assert "self._engineio_server_class()(**engineio_options)" in _source(
        socketio.base_server.BaseServer.__init__), VERSIONS
    assert _params(socketio.AsyncServer._handle_connect) == ["self", "eio_sid", "namespace",
                                                            "data"]
    assert inspect.iscoroutinefunction(ChatSocketServer._handle_eio_message)
    sio = ChatSocketServer(transport_impl="stock", socket_buffer_bytes=12345,
                           connect_timeout=3.0, max_pending_sessions=7, ping_interval=4)
    assert isinstance(sio.eio, ChatEngineServer)
    assert (sio.eio.transport_impl, sio.eio.socket_buffer_bytes, sio.eio.connect_timeout,
            sio.eio.max_pending_sessions, sio.eio.ping_interval) == ("stock", 12345, 3.0, 7, 4)
    assert sio.eio.handlers["message"] == sio._handle_eio_message
    assert sio.eio.start_service_task is False  # every session has its own timer


def test_uvicorns_websocket_send_waits_for_writable_and_has_a_transport():
    """The lean sender looks at ``protocol.writable`` before stepping ``send`` and aborts
    ``protocol.transport`` when a stalled reader overflows."""
    protocol = websockets_sansio_impl.WebSocketsSansIOProtocol
    send = _source(protocol.send)
    assert send.index("await self.writable.wait()") < send.index("self.transport.write"), VERSIONS
    init = _source(protocol.__init__)
    assert "self.writable = asyncio.Event()" in init and "self.transport" in init
    assert "self.transport = transport" in _source(protocol.connection_made)
    assert "self.writable.set()" in _source(protocol.connection_lost)


def test_a_text_frame_written_directly_is_the_one_websockets_writes():
    """``engine_frames`` writes a server's text frames itself while uvicorn's sans-I/O
    protocol is plainly open: the bytes must be websockets' own, and the state it reads
    must still be where it looks."""
    from websockets.frames import TEXT, Frame

    from chat_server.entrypoints.socketio.engine_frames import text_frame

    for size in (0, 1, 125, 126, 65535, 65536, 70000):
        payload = ("é" * size).encode()[:size]
        assert text_frame(payload) == Frame(TEXT, payload).serialize(mask=False,
                                                                       extensions=[])
    protocol = websockets_sansio_impl.WebSocketsSansIOProtocol
    send = _source(protocol.send)
    assert "elif not self.close_sent and self.initial_response is None:" in send, VERSIONS
    assert "self.conn.send_text(text_data.encode())" in send
    init = _source(protocol.__init__)
    assert "self.conn = ServerProtocol(" in init and "self.close_sent = False" in init
    assert "self.initial_response" in init
    from websockets.protocol import Protocol
    assert "self.extensions" in _source(Protocol.__init__)
    assert "expect_continuation_frame" in _source(Protocol.send_text)


def test_python_socketio_keeps_the_handshake_environ_where_the_server_trims_it():
    """``ChatSocketServer._handle_eio_connect`` replaces the stored environ by the keys the
    connect handlers read; the library must store it there and read it only from there."""
    assert _params(socketio.AsyncServer._handle_eio_connect) == ["self", "eio_sid", "environ"]
    assert "self.environ[eio_sid] = environ" in _source(socketio.AsyncServer._handle_eio_connect)
    assert "self.environ[eio_sid]" in _source(socketio.AsyncServer._handle_connect)


FAST_EVENTS = ['2/chat,12["sendMessage",{"text":"é"}]', '2/chat,["x"]', '2/chat,', '2/chat,5',
               '2/chat,0012["a"]', '2/chat,12{"a":[1]}', '2/chat,12 ["a"]',
               '2/chat,123456789012345678["a"]']
LIBRARY_EVENTS = ['2/chat,1234567890123456789["a"]', '2/chat?x=1,3["a"]', '2["a"]', '2/,1["a"]',
                  '21/chat,["a"]', '51-/chat,1["a"]']
REFUSED_EVENTS = ['2/chat,12[NaN]', '2/chat,-1["a"]', '2/chat,1-["a"]', '2/chat,1["a"']


@pytest.mark.parametrize("encoded", FAST_EVENTS + LIBRARY_EVENTS + REFUSED_EVENTS)
def test_the_servers_event_decoder_reads_what_the_librarys_reads(encoded: str, mocker: Any):
    """``ChatSocketServer`` decodes plain text EVENT packets itself (no Packet object): it
    must read exactly what python-socketio's decoder reads, refuse what it refuses (a
    ValueError, logged and dropped), or leave the packet to it."""
    from socketio import packet

    from chat_server.entrypoints.socketio.server import StrictJson, _plain_event

    mocker.patch.object(packet.Packet, "json", StrictJson)  # as ChatSocketServer sets it
    if encoded in REFUSED_EVENTS:
        for decode in (_plain_event, lambda e: packet.Packet(encoded_packet=e)):
            with pytest.raises(ValueError):
                decode(encoded)
        return
    fast = _plain_event(encoded)
    if encoded in FAST_EVENTS:
        decoded = packet.Packet(encoded_packet=encoded)
        assert fast == (decoded.namespace, decoded.id, decoded.data)
    else:
        assert fast is None  # the library decodes it, or refuses it


def test_uvicorns_protocol_and_websockets_parser_keep_what_the_direct_reader_reads():
    """``engine_frames.DirectReadProtocol`` reads websockets' parser state to know when it
    may cut frames itself (an empty buffer, no fragmented message, no pending event), and
    uses uvicorn's ASGI queue and its read pausing for a handler that suspends."""
    from websockets.protocol import Protocol
    from websockets.streams import StreamReader

    protocol = websockets_sansio_impl.WebSocketsSansIOProtocol
    assert "self.conn.receive_data(data)" in _source(protocol.data_received), VERSIONS
    init = _source(protocol.__init__)
    assert "self.queue: asyncio.Queue" in init and "self.read_paused = False" in init
    receive = _source(protocol.receive)
    assert "await self.queue.get()" in receive
    assert "self.read_paused and self.queue.empty()" in receive
    assert "self.transport.resume_reading()" in receive
    assert "self.transport.pause_reading()" in _source(protocol.send_receive_event_to_app)
    parser = _source(Protocol.__init__)
    for state in ("self.reader = StreamReader()", "self.events:", "self.current_size",
                  "self.parser_exc", "self.extensions"):
        assert state in parser, (state, VERSIONS)
    assert "self.buffer = bytearray()" in _source(StreamReader.__init__)
