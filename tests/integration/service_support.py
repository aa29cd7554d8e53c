"""The real service, started as operators start it (``chat-server`` in a subprocess), and
real Socket.IO clients (``socketio.AsyncClient``) that record every event they receive."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import socketio
from asyncapi_support import contract

REPO = Path(__file__).resolve().parents[2]
SECRET = "integration-tests-secret-0123456789"
API_KEY = "integration-tests-api-key-0123456789abcdef"
EVENT_TIMEOUT_S = 5.0
# The only CHAT_* variable the tests take from their environment: the whole suite runs on
# the stock Engine.IO WebSocket handler with `CHAT_TRANSPORT_IMPL=stock make test`.
PASSED_THROUGH = ("CHAT_TRANSPORT_IMPL",)


def passed_through() -> dict[str, str]:
    return {k: os.environ[k] for k in PASSED_THROUGH if os.environ.get(k)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("chat-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "chat_server.entrypoints.cli"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Server:
    """A ``chat-server`` process on a free port; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        self.env.update(passed_through())
        # Uploads go next to the log, never into the repository the server runs from.
        self.env.update({"CHAT_PORT": str(self.port), "CHAT_HOST": "127.0.0.1",
                         "CHAT_MEDIA_DIR": str(log_path.parent / "media")}, **env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(server_command(), env=self.env, cwd=REPO, stdout=log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not _healthy(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"chat-server did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def storage_env(storage: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if storage == "memory":
        return {"CHAT_STORAGE": "memory"}
    mongo_url = request.getfixturevalue("mongo_url")
    return {"CHAT_STORAGE": "mongo", "CHAT_MONGO_URL": mongo_url,
            "CHAT_MONGO_DB": f"protocol_{os.getpid()}_{next(_databases)}"}


_databases = itertools.count(1)
STORAGES = ["memory", "mongo"]


@pytest.fixture(scope="session", params=STORAGES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    """The service with production-like settings: a secret, the default limits, a short
    presence grace period so that the tests that wait for it stay quick."""
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_PRESENCE_GRACE_S": "1", "CHAT_LOG_LEVEL": "info",
           "CHAT_API_KEYS": API_KEY,
           "CHAT_PRESENCE_OFFLINE_DELAY_S": "0.5"}
    env.update(storage_env(request.param, request))
    logs = tmp_path_factory.mktemp(f"server-{request.param}")
    srv = Server(env, logs / "chat-server.log").start()
    yield srv
    srv.stop()


_ids = itertools.count(1000)


def new_id() -> int:
    """A user id no other test uses: every test works with users of its own."""
    return next(_ids)


def make_token(user_type: str, user_id: int, ttl: float = 3600, secret: str = SECRET,
               **claims: Any) -> str:
    body: dict[str, Any] = {"sub": str(user_id), "userType": user_type,
                            "exp": int(time.time() + ttl)}
    body.update(claims)
    return jwt.encode(body, secret, algorithm="HS256")


class Client:
    """One device: a Socket.IO connection with the namespaces it opened.

    Every received event lands in ``events`` as (namespace, event, data); ``next`` waits
    for the next matching one that was not consumed yet.

    Contract check: every received event, every ack returned by ``call`` and every
    ``connect_error`` is validated against docs/asyncapi.yaml (asyncapi_support). A
    mismatch is raised by the next ``next``/``call``/``nothing``/``received``, and the
    ``asyncapi_contract`` fixture fails the test with any mismatch still unreported.
    """

    def __init__(self, url: str, user_type: str, user_id: int) -> None:
        self.url = url
        self.user_type = user_type
        self.user_id = user_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, str, Any]] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()
        self.disconnected: dict[str, asyncio.Event] = {}
        self.connect_errors: dict[str, Any] = {}
        self.contract_failures: list[str] = []  # mismatches not raised yet
        _clients_of_test.append(self)
        for namespace in ("/presence", "/chat"):
            self._listen(namespace)

    # --- contract check (docs/asyncapi.yaml) ---------------------------------------------
    def _check_contract(self, check: Callable[..., None], *args: Any) -> None:
        try:
            check(*args)
        except AssertionError as exc:
            self.contract_failures.append(f"{self.user}: {exc}")
            self._changed.set()

    def take_contract_failures(self) -> list[str]:
        failures, self.contract_failures = self.contract_failures, []
        return failures

    def raise_contract_failures(self) -> None:
        if failures := self.take_contract_failures():
            raise AssertionError("\n".join(failures))
    # -------------------------------------------------------------------------------------

    def _listen(self, namespace: str) -> None:
        async def any_event(event: str, *args: Any) -> None:
            self.events.append((namespace, event, args[0] if args else None))
            self._check_contract(contract().validate_server_event, namespace, event,
                                 args[0] if args else None)
            self._changed.set()

        async def disconnected(*_: Any) -> None:
            self.disconnected.setdefault(namespace, asyncio.Event()).set()

        async def connect_error(data: Any = None) -> None:
            self.connect_errors[namespace] = data
            if self.sio.eio.state == "connected":  # a CONNECT_ERROR packet, not a failed handshake
                self._check_contract(contract().validate_server_event, namespace,
                                     "connect_error", data)
            self._changed.set()

        self.sio.on("*", any_event, namespace=namespace)
        self.sio.on("disconnect", disconnected, namespace=namespace)
        self.sio.on("connect_error", connect_error, namespace=namespace)
        self.disconnected[namespace] = asyncio.Event()

    @property
    def user(self) -> tuple[str, int]:
        return self.user_type, self.user_id

    async def connect(self, namespaces: tuple[str, ...] = ("/presence", "/chat"),
                      token: str | None = None, transports: list[str] | None = None,
                      **kwargs: Any) -> Client:
        auth = {"token": token or make_token(self.user_type, self.user_id)}
        await self.sio.connect(self.url, namespaces=list(namespaces), auth=auth,
                               transports=transports or ["websocket"], wait_timeout=5,
                               **kwargs)
        if "/chat" in namespaces:
            await self.next("userChats", namespace="/chat")
        return self

    async def close(self) -> None:
        await self.sio.disconnect()

    async def call(self, event: str, data: Any = None, namespace: str = "/chat") -> Any:
        ack = await self.sio.call(event, data, namespace=namespace, timeout=EVENT_TIMEOUT_S)
        documented = contract().is_client_event(namespace, event)
        self._check_contract(contract().validate_ack if documented
                             else contract().validate_error_ack, namespace, event, ack)
        if documented and isinstance(ack, dict) and ack.get("error") is False:
            self._check_contract(contract().validate_accepted_payload, namespace, event, data)
        self.raise_contract_failures()
        return ack

    async def emit(self, event: str, data: Any = None, namespace: str = "/chat") -> None:
        await self.sio.emit(event, data, namespace=namespace)

    def _find(self, event: str, namespace: str | None, where: Callable[[Any], bool] | None
              ) -> Any:
        for index, (ns, name, data) in enumerate(self.events):
            if index in self._consumed or name != event:
                continue
            if namespace is not None and ns != namespace:
                continue
            if where is not None and not where(data):
                continue
            self._consumed.add(index)
            return data
        return _MISSING

    async def next(self, event: str, namespace: str | None = None,
                   where: Callable[[Any], bool] | None = None,
                   timeout: float = EVENT_TIMEOUT_S) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.raise_contract_failures()
            found = self._find(event, namespace, where)
            if found is not _MISSING:
                return found
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = [(ns, name) for ns, name, _ in self.events]
                raise AssertionError(f"{self.user} got no {event!r}; it got {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def nothing(self, event: str, within: float = 0.3, namespace: str | None = None,
                      where: Callable[[Any], bool] | None = None) -> None:
        """Asserts that no (unconsumed) ``event`` arrives within ``within`` seconds."""
        await asyncio.sleep(within)
        self.raise_contract_failures()
        found = self._find(event, namespace, where)
        assert found is _MISSING, f"{self.user} unexpectedly got {event!r}: {found}"

    def received(self, event: str) -> list[Any]:
        self.raise_contract_failures()
        return [data for _, name, data in self.events if name == event]


_MISSING = object()
# The Clients made since the asyncapi_contract fixture last looked.
_clients_of_test: list[Client] = []


@pytest.fixture(autouse=True)
def asyncapi_contract() -> Iterator[None]:
    """Fails a test whose clients received an event, ack or connect_error that
    docs/asyncapi.yaml does not describe, also one the test never looked at (it runs
    after the other fixtures closed the clients)."""
    _clients_of_test.clear()
    yield
    failures = [f for client in _clients_of_test for f in client.take_contract_failures()]
    _clients_of_test.clear()
    if failures:
        pytest.fail("contract mismatch (docs/asyncapi.yaml):\n" + "\n".join(failures),
                    pytrace=False)


class Devices:
    """Opens clients for a test and closes them all at its end."""

    def __init__(self) -> None:
        self._clients: list[Client] = []

    async def open(self, url: str, user_type: str, user_id: int | None = None,
                   namespaces: tuple[str, ...] = ("/presence", "/chat"), **kwargs: Any
                   ) -> Client:
        client = Client(url, user_type, user_id if user_id is not None else new_id())
        self._clients.append(client)
        if namespaces:
            await client.connect(namespaces, **kwargs)
        return client

    async def close_all(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):  # a test may have closed it already
                await client.close()


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[Callable[..., Any]]:
    """``await connect("customer", id?)`` -> a Client online in both namespaces."""
    devices = Devices()

    async def open_client(user_type: str, user_id: int | None = None, **kwargs: Any) -> Client:
        return await devices.open(server.url, user_type, user_id, **kwargs)

    yield open_client
    await devices.close_all()


def http_json(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.load(exc)
        except ValueError:
            return exc.code, None


async def api(url: str, method: str, path: str, body: Any = None, key: str | None = API_KEY,
              headers: dict[str, str] | None = None, raw: bytes | None = None
              ) -> tuple[int, Any]:
    """One HTTP request to the API (aiohttp): the status and the decoded JSON answer."""
    import aiohttp

    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    async with aiohttp.ClientSession() as session, session.request(
        method, url + path, json=body if raw is None else None, data=raw, headers=sent,
        timeout=aiohttp.ClientTimeout(total=EVENT_TIMEOUT_S * 2),
    ) as response:
        text = await response.read()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text


async def upload(url: str, user_type: str, user_id: int, data: bytes, filename: str,
                 content_type: str = "application/octet-stream") -> tuple[int, Any]:
    """``POST /api/v1/me/uploads`` as that user (multipart, field ``file``)."""
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    headers = {"Authorization": f"Bearer {make_token(user_type, user_id)}"}
    async with aiohttp.ClientSession() as session, session.post(
        f"{url}/api/v1/me/uploads", data=form, headers=headers,
        timeout=aiohttp.ClientTimeout(total=EVENT_TIMEOUT_S * 4),
    ) as response:
        return response.status, await response.json()


async def fetch(url: str, path: str) -> tuple[int, bytes, str]:
    """GET a media URL (relative to the service): status, body, content type."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(
        url + path, timeout=aiohttp.ClientTimeout(total=EVENT_TIMEOUT_S * 2),
    ) as response:
        return response.status, await response.read(), response.headers.get("Content-Type", "")
