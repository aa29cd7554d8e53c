"""A lean Redis client for the commands on the message path: one connection, every command
issued during an event-loop round written in one go (implicit pipelining).

Profiled on two nodes (2026-12-02), redis-py spent more of a node's CPU than the rest of the
message path: for each command a connection taken from and given back to the pool (a lock,
``isinstance`` checks against typing Protocols), a retry wrapper, one socket write, and a
new pooled connection whenever commands overlap. Here a command is packed by hiredis,
appended to the round's buffer, and answered through a future once hiredis has parsed its
reply; Redis answers in order, so replies match futures first in, first out. What it offers
is what the hot adapters use: ``register_script`` (EVALSHA, EVAL when Redis lost the
script, e.g. after a restart), ``set``, ``publish``, ``ping``, ``execute``.

Failures look like redis-py's (``redis.exceptions.ConnectionError`` / ``TimeoutError`` /
``ResponseError``), so ``client.REDIS_DOWN`` and the adapters' fallbacks hold unchanged:
a connection that breaks fails every command waiting on it; a command unanswered after
``timeout`` seconds closes the connection (one timer per connection, not per command);
after a failed connect, commands fail at once for ``retry_after`` seconds instead of each
waiting for its own attempt.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


class _Protocol(asyncio.Protocol):
    def __init__(self, client: PipelinedRedis) -> None:
        self._client = client
        self._reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._client._waiting
        while (reply := self._reader.gets()) is not False:
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self._client._broken(RedisConnectionError("unexpected reply from Redis"))
                return
            future, _ = waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._lost(self, exc)


class PipelinedRedis:
    def __init__(self, host: str = "127.0.0.1", port: int = 6379, db: int = 0,
                 password: str | None = None, username: str | None = None,
                 path: str | None = None, tls: bool = False, timeout: float = 1.0,
                 connect_timeout: float = 1.0, retry_after: float = 0.5) -> None:
        self._address = (host, port)
        self._path = path
        self._tls = tls
        self._hello: list[tuple[Arg, ...]] = []
        if password is not None:
            self._hello.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._hello.append(("SELECT", db))
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._retry_after = retry_after
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._failed_at = -1e9
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = (
            collections.deque())
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PipelinedRedis:
        parts = urllib.parse.urlsplit(url)
        password = urllib.parse.unquote(parts.password) if parts.password else None
        username = urllib.parse.unquote(parts.username) if parts.username else None
        if parts.scheme == "unix":
            db = int(urllib.parse.parse_qs(parts.query).get("db", ["0"])[0])
            return cls(path=parts.path, db=db, password=password, username=username, **options)
        db_text = parts.path.lstrip("/")
        return cls(parts.hostname or "127.0.0.1", parts.port or 6379,
                   int(db_text) if db_text else 0, password, username,
                   tls=parts.scheme == "rediss", **options)

    # --- commands ----------------------------------------------------------------------

    async def execute(self, *args: Arg) -> Any:
        if self._protocol is None:
            await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._send(loop, hiredis.pack_command(args), future)  # type: ignore[arg-type]
        return await future

    def _send(self, loop: asyncio.AbstractEventLoop, packed: bytes,
              future: asyncio.Future[Any]) -> None:
        self._waiting.append((future, time.monotonic()))
        self._out.append(packed)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout, self._check_timeout)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        protocol = self._protocol
        if not out:
            return
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            self._broken(RedisConnectionError("connection to Redis lost"))
            return
        protocol.transport.write(b"".join(out))

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        oldest = self._waiting[0][1]
        now = time.monotonic()
        if now - oldest >= self._timeout:
            self._broken(RedisTimeoutError(f"no reply from Redis within {self._timeout} s"))
            return
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self._timeout - (now - oldest), self._check_timeout)

    def register_script(self, source: str) -> PipelinedScript:
        return PipelinedScript(self, source)

    async def set(self, key: str, value: Arg, nx: bool = False, px: int | None = None) -> Any:
        args: list[Arg] = ["SET", key, value]
        if px is not None:
            args += ["PX", px]
        if nx:
            args.append("NX")
        return await self.execute(*args)

    async def publish(self, channel: str, message: Arg) -> int:
        return int(await self.execute("PUBLISH", channel, message))

    async def ping(self) -> bool:
        return bool(await self.execute("PING") == b"PONG")

    # --- the connection ----------------------------------------------------------------

    async def _connect(self) -> None:
        if self._closed:
            raise RedisConnectionError("client closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None:
                return
            if time.monotonic() - self._failed_at < self._retry_after:
                raise RedisConnectionError("Redis unavailable (connect failed just now)")
            loop = asyncio.get_running_loop()
            protocol = _Protocol(self)
            try:
                if self._path is not None:
                    connecting = loop.create_unix_connection(lambda: protocol, self._path)
                else:
                    connecting = loop.create_connection(lambda: protocol, *self._address,
                                                        ssl=True if self._tls else None)
                await asyncio.wait_for(connecting, self._connect_timeout)
            except (OSError, TimeoutError) as exc:
                self._failed_at = time.monotonic()
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            self._protocol = protocol
            for command in self._hello:
                future: asyncio.Future[Any] = loop.create_future()
                self._send(loop, hiredis.pack_command(command), future)  # type: ignore[arg-type]
                try:
                    await future
                except ResponseError as exc:
                    self._broken(RedisConnectionError(f"Redis refused the connection: {exc}"))
                    raise RedisConnectionError(str(exc)) from exc

    def _broken(self, exc: Exception) -> None:
        """Fails everything waiting and drops the connection; the next command reconnects."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()
        self._fail_waiting(exc)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self._fail_waiting(RedisConnectionError(f"connection to Redis lost: {exc}"))

    def _fail_waiting(self, exc: Exception) -> None:
        self._out = []
        waiting, self._waiting = self._waiting, collections.deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(exc)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def aclose(self) -> None:
        self._closed = True
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        self._fail_waiting(RedisConnectionError("client closed"))


class PipelinedScript:
    """A Lua script run by EVALSHA; sent whole (EVAL, which caches it again) when Redis does
    not know it."""

    def __init__(self, client: PipelinedRedis, source: str) -> None:
        self._client = client
        self._source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = (),
                       client: Any = None) -> Any:
        if client is not None:  # a redis-py pipeline (the presence renewal): its own path
            raise TypeError("PipelinedScript runs on its own client only")
        try:
            return await self._client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self._client.execute("EVAL", self._source, len(keys), *keys, *args)
