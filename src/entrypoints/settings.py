"""Configuration from ``CHAT_*`` environment variables and command-line flags."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import attrs
import jwt

from chat_server.application.ports import RateLimit


class ConfigError(Exception):
    """A bad configuration: reported as one line at start, never a traceback."""


STORAGES = ("memory", "mongo")
TRANSPORT_IMPLS = ("lean", "stock")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(name: str, value: str) -> float | None:
    """``20/10s`` -> 2.0 tokens per second; ``off`` -> ``None`` (no limit)."""
    if value.strip().lower() == "off":
        return None
    match = _RATE.match(value)
    if not match:
        raise ConfigError(f"{name}={value!r}: expected a rate such as 20/10s or 'off'")
    count, span, unit = match.groups()
    seconds = float(span or 1) * _UNIT_SECONDS[unit]
    if seconds <= 0 or float(count) <= 0:
        raise ConfigError(f"{name}={value!r}: the rate must be positive")
    return float(count) / seconds


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected an integer") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}={value!r}: expected {low}..{high}")
    return number


def _float(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a number") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}={value!r}: expected {low}..{high}")
    return number


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={value!r}: expected 1/0, true/false")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_key(name: str, value: str) -> str:
    """A PEM given inline, or the path of a PEM file."""
    if "-----BEGIN" in value:
        return value
    path = Path(value)
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read key file {value!r} ({exc.strerror})") from None


def _check_public_key(pem: str, algorithms: tuple[str, ...]) -> None:
    """A key that cannot verify would refuse every connection: refuse to start instead."""
    for name in algorithms:
        try:
            jwt.get_algorithm_by_name(name).prepare_key(pem)
        except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
            raise ConfigError(
                f"CHAT_JWT_PUBLIC_KEY is not a usable {name} public key ({exc})"
            ) from None


@attrs.frozen
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_public_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    storage: str = "memory"
    mongo_url: str = "mongodb://127.0.0.1:27017/?retryWrites=false"
    mongo_db: str = "chat"
    mongo_connect_timeout_s: float = 30.0
    # Several nodes: python-socketio's Redis manager, presence and limits in Redis.
    redis_url: str | None = None
    presence_lease_s: float = 30.0
    cors_origins: tuple[str, ...] | None = None  # None: same origin only
    log_level: str = "info"
    presence_grace_s: float = 3.0
    send_limit: RateLimit | None = RateLimit(2.0, 10)
    request_limit: RateLimit | None = RateLimit(6.0, 60)
    max_packet_bytes: int = 65536
    transports: tuple[str, ...] = ("websocket", "polling")
    demo_page: bool = False
    # permessage-deflate on WebSockets: off by default, it cost 8 % of CPU and ~40 KB of
    # memory per connection for chat-sized messages (docs/performance.md).
    ws_compression: bool = False
    typing_interval_s: float = 2.0
    # The Engine.IO layer (entrypoints/socketio/engine.py).
    transport_impl: str = "lean"
    socket_buffer_bytes: int = 4 * 2**20
    connect_timeout_s: float = 10.0
    max_pending_sessions: int = 2000
    ping_interval_s: float = 25.0
    ping_timeout_s: float = 20.0
    # Development mode: no key configured; a random secret signs the tokens.
    dev_mode: bool = False

    @property
    def verification_key(self) -> str:
        key = self.jwt_public_key or self.jwt_secret
        assert key is not None, "settings without a key are made in development mode"
        return key

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: object) -> Settings:
        """Build settings from the environment; flags given (not None) win over it."""
        env = os.environ if env is None else env
        def get(name: str, default: str | None = None) -> str | None:
            return env.get(name) or default

        algorithms = tuple(
            a.strip() for a in (get("CHAT_JWT_ALGORITHMS", "HS256") or "").split(",") if a.strip()
        )
        allowed = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
                   "ES512", "PS256", "PS384", "PS512", "EdDSA"}
        if not algorithms or not set(algorithms) <= allowed:
            raise ConfigError(
                f"CHAT_JWT_ALGORITHMS={get('CHAT_JWT_ALGORITHMS')!r}: expected some of "
                + ", ".join(sorted(allowed))
            )
        public_key_value = get("CHAT_JWT_PUBLIC_KEY")
        public_key = _read_key("CHAT_JWT_PUBLIC_KEY", public_key_value) if public_key_value else None
        secret = get("CHAT_JWT_SECRET")
        symmetric = all(a.startswith("HS") for a in algorithms)
        if public_key is not None and any(a.startswith("HS") for a in algorithms):
            raise ConfigError("CHAT_JWT_PUBLIC_KEY needs asymmetric CHAT_JWT_ALGORITHMS (RS256 ...)")
        if public_key is not None:
            _check_public_key(public_key, algorithms)
        if public_key is None and secret is not None and not symmetric:
            raise ConfigError(f"CHAT_JWT_ALGORITHMS={','.join(algorithms)} needs CHAT_JWT_PUBLIC_KEY")
        if public_key is None and secret is not None and len(secret) < 16:
            raise ConfigError("CHAT_JWT_SECRET is too short: use at least 16 characters")
        dev_mode = public_key is None and secret is None
        if dev_mode and not symmetric:
            raise ConfigError(f"CHAT_JWT_ALGORITHMS={','.join(algorithms)} needs CHAT_JWT_PUBLIC_KEY")

        host = str(flags.get("host") or get("CHAT_HOST", "127.0.0.1"))
        port_value = flags.get("port")
        port = (
            _int("--port", str(port_value), 1, 65535) if port_value is not None
            else _int("CHAT_PORT", get("CHAT_PORT", "8000") or "8000", 1, 65535)
        )
        if dev_mode and not is_loopback(host):
            raise ConfigError(
                f"no CHAT_JWT_SECRET or CHAT_JWT_PUBLIC_KEY is set, so this is development mode, "
                f"which serves only on a loopback host, not on {host!r}"
            )
        storage = (get("CHAT_STORAGE", "memory") or "memory").strip().lower()
        if storage not in STORAGES:
            raise ConfigError(f"CHAT_STORAGE={storage!r}: expected one of {', '.join(STORAGES)}")
        redis_url = get("CHAT_REDIS_URL")
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"CHAT_REDIS_URL={redis_url!r}: expected redis://host:port/db")
        if redis_url is not None and storage == "memory":
            raise ConfigError("CHAT_REDIS_URL needs CHAT_STORAGE=mongo: with in-memory storage "
                              "the nodes would not share chats")
        cors = get("CHAT_CORS_ORIGINS")
        cors_origins = (
            tuple(o.strip() for o in cors.split(",") if o.strip()) if cors
            else ("*",) if dev_mode else None
        )
        log_level = (get("CHAT_LOG_LEVEL", "info") or "info").lower()
        if log_level not in ("critical", "error", "warning", "info", "debug"):
            raise ConfigError(f"CHAT_LOG_LEVEL={log_level!r}: expected error, warning, info or debug")
        transports = tuple(
            t.strip() for t in (get("CHAT_TRANSPORTS", "websocket,polling") or "").split(",")
            if t.strip()
        )
        if not transports or not set(transports) <= {"websocket", "polling"}:
            raise ConfigError(f"CHAT_TRANSPORTS={get('CHAT_TRANSPORTS')!r}: expected websocket,polling")

        transport_impl = (get("CHAT_TRANSPORT_IMPL", "lean") or "lean").strip().lower()
        if transport_impl not in TRANSPORT_IMPLS:
            raise ConfigError(f"CHAT_TRANSPORT_IMPL={transport_impl!r}: expected lean or stock")

        def number(name: str, default: str, low: float, high: float) -> float:
            return _float(name, get(name, default) or default, low, high)

        def limit(rate_name: str, rate_default: str, burst_name: str, burst_default: str
                  ) -> RateLimit | None:
            rate = parse_rate(rate_name, get(rate_name, rate_default) or rate_default)
            burst = _int(burst_name, get(burst_name, burst_default) or burst_default, 1, 10**9)
            return None if rate is None else RateLimit(rate, burst)

        return cls(
            host=host,
            port=port,
            jwt_secret=secrets.token_urlsafe(32) if dev_mode else secret,
            jwt_algorithms=algorithms,
            jwt_public_key=public_key,
            jwt_audience=get("CHAT_JWT_AUDIENCE"),
            jwt_issuer=get("CHAT_JWT_ISSUER"),
            storage=storage,
            mongo_url=get("CHAT_MONGO_URL", cls.mongo_url) or cls.mongo_url,
            mongo_db=get("CHAT_MONGO_DB", "chat") or "chat",
            mongo_connect_timeout_s=_float(
                "CHAT_MONGO_CONNECT_TIMEOUT_S", get("CHAT_MONGO_CONNECT_TIMEOUT_S", "30") or "30",
                0, 3600,
            ),
            redis_url=redis_url,
            presence_lease_s=_float(
                "CHAT_PRESENCE_LEASE_S", get("CHAT_PRESENCE_LEASE_S", "30") or "30", 1, 3600
            ),
            cors_origins=cors_origins,
            log_level=log_level,
            presence_grace_s=_float(
                "CHAT_PRESENCE_GRACE_S", get("CHAT_PRESENCE_GRACE_S", "3") or "3", 0, 60
            ),
            send_limit=limit("CHAT_SEND_RATE", "20/10s", "CHAT_SEND_BURST", "10"),
            request_limit=limit("CHAT_REQUEST_RATE", "60/10s", "CHAT_REQUEST_BURST", "60"),
            max_packet_bytes=_int(
                "CHAT_MAX_PACKET_BYTES", get("CHAT_MAX_PACKET_BYTES", "65536") or "65536",
                1024, 100 * 2**20,
            ),
            transports=transports,
            demo_page=dev_mode or _bool("CHAT_DEMO_PAGE", get("CHAT_DEMO_PAGE", "0") or "0"),
            ws_compression=_bool("CHAT_WS_COMPRESSION", get("CHAT_WS_COMPRESSION", "0") or "0"),
            transport_impl=transport_impl,
            socket_buffer_bytes=_int(
                "CHAT_SOCKET_BUFFER_BYTES", get("CHAT_SOCKET_BUFFER_BYTES", "4194304") or "4194304",
                4096, 2**30,
            ),
            connect_timeout_s=number("CHAT_CONNECT_TIMEOUT_S", "10", 0.1, 3600),
            max_pending_sessions=_int(
                "CHAT_MAX_PENDING_SESSIONS", get("CHAT_MAX_PENDING_SESSIONS", "2000") or "2000",
                1, 10**6,
            ),
            ping_interval_s=number("CHAT_PING_INTERVAL_S", "25", 0.05, 3600),
            ping_timeout_s=number("CHAT_PING_TIMEOUT_S", "20", 0.05, 3600),
            dev_mode=dev_mode,
        )
