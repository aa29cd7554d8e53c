"""Configuration from ``CHAT_*`` environment variables and command-line flags.

``values.py`` parses single values, ``sections.py`` the groups of settings read together
(media, webhooks, API keys, abuse bounds, operations); ``Settings.load`` here reads them all.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

import attrs

from chat_server.application.ports import RateLimit
from chat_server.domain.contact_filter import FilterMode
from chat_server.domain.media import MIB, MediaLimits
from chat_server.entrypoints.settings.sections import (
    MEDIA_SECRET_MIN_CHARS,
    abuse_settings,
    check_webhook_secret,
    derive_media_key,
    media_settings,
    ops_settings,
    parse_api_keys,
    parse_webhook_url,
)
from chat_server.entrypoints.settings.values import (
    STORAGES,
    TRANSPORT_IMPLS,
    ConfigError,
    check_public_key,
    flag,
    float_in,
    int_in,
    is_loopback,
    parse_contact_filter,
    parse_domains,
    parse_rate,
    read_key,
)

__all__ = ["ConfigError", "Settings", "derive_media_key", "parse_rate"]


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
    # Several nodes: presence and limits in Redis; emits published to the nodes holding
    # their users ("routed"), or python-socketio's broadcast to every node ("broadcast").
    redis_url: str | None = None
    presence_lease_s: float = 30.0
    cross_node: str = "routed"
    cross_node_buffer: int = 10_000  # payloads queued for other nodes, at most
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
    # GET /debug/stats (tasks, sessions, connections) for loopback clients: benchmarks only.
    debug_stats: bool = False
    typing_interval_s: float = 2.0
    # Attachments (docs/attachments.md).
    media_storage: str = "fs"
    media_dir: str = "media"  # made absolute (from the working directory) by load()
    media_max_bytes: int = 10 * MIB
    media_max_pdf_bytes: int = 20 * MIB
    media_url_ttl_s: int = 86_400
    media_unattached_ttl_s: int = 86_400
    media_workers: int = 2
    media_queue: int = 8  # jobs waiting for a worker beyond the running ones: then 503
    media_max_receiving: int = 16  # uploads whose bodies are being received at once
    media_receive_timeout_s: float = 60.0
    media_base_url: str = ""  # "" -> media URLs are relative ("/media/...")
    upload_limit: RateLimit | None = RateLimit(20 / 3600, 10)
    # CHAT_MEDIA_SECRET, else derived from an HS* JWT secret; None with a public key only.
    media_secret: bytes | None = None  # None: derived from jwt_secret (HS256 only)
    # Bounds against abuse (docs/limits.md lists every one).
    new_chat_limit: RateLimit | None = RateLimit(10 / 3600, 10)
    connect_limit: RateLimit | None = RateLimit(0.5, 30)
    allowed_media_hosts: frozenset[str] = frozenset()
    max_sockets_per_user: int = 20
    presence_offline_delay_s: float = 5.0
    storage_timeout_s: float = 5.0
    request_cost_bytes: int = 16_384
    report_limit: RateLimit | None = RateLimit(10 / 86400, 10)
    edit_window_s: float = 900.0
    # Phone numbers, e-mail addresses and links in message texts (PROTOCOL.md section 10):
    # off, or masked as [hidden], or refused; the allowed domains pass with subdomains.
    contact_filter: FilterMode = FilterMode.OFF
    contact_allowed_domains: frozenset[str] = frozenset()
    # Webhooks (docs/webhooks.md): off without a URL; the secret signs every delivery.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_concurrency: int = 8
    webhook_max_pending: int = 100_000  # in-memory outbox only; MongoDB keeps every item
    webhook_poll_s: float = 1.0
    unread_notify_after_s: float = 60.0
    # Server API keys (CHAT_API_KEYS); development mode makes one when none is given.
    api_keys: tuple[str, ...] = ()
    # The Engine.IO layer (entrypoints/socketio/engine.py).
    transport_impl: str = "lean"
    socket_buffer_bytes: int = 4 * 2**20
    connect_timeout_s: float = 10.0
    max_pending_sessions: int = 2000
    ping_interval_s: float = 25.0
    ping_timeout_s: float = 20.0
    # --- Operations (docs/deployment.md): metrics, logs, draining; parsed by _ops_settings.
    metrics: bool = True  # GET /metrics (Prometheus text format)
    log_format: str = "text"  # or "json": one object per line
    access_log: bool = False  # one line per HTTP request / WebSocket, never a query string
    drain_s: float = 10.0  # SIGTERM: how long in-flight events may take before sessions close
    # --- end of operations
    # Development mode: no key configured; a random secret signs the tokens.
    dev_mode: bool = False

    @property
    def verification_key(self) -> str:
        key = self.jwt_public_key or self.jwt_secret
        assert key is not None, "settings without a key are made in development mode"
        return key

    @property
    def media_limits(self) -> MediaLimits:
        return MediaLimits(max_image_bytes=self.media_max_bytes,
                           max_pdf_bytes=self.media_max_pdf_bytes)

    @property
    def media_signing_key(self) -> bytes:
        """Raises ``ConfigError`` when there is none: call it when wiring media at start."""
        if self.media_secret is not None:
            return self.media_secret
        if self.jwt_secret is not None and self.jwt_public_key is None:
            return derive_media_key(self.jwt_secret)
        raise ConfigError("CHAT_MEDIA_SECRET is required with CHAT_JWT_PUBLIC_KEY (at least "
                          f"{MEDIA_SECRET_MIN_CHARS} characters, the same on every node)")

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
        public_key = read_key("CHAT_JWT_PUBLIC_KEY", public_key_value) if public_key_value else None
        secret = get("CHAT_JWT_SECRET")
        symmetric = all(a.startswith("HS") for a in algorithms)
        if public_key is not None and any(a.startswith("HS") for a in algorithms):
            raise ConfigError("CHAT_JWT_PUBLIC_KEY needs asymmetric CHAT_JWT_ALGORITHMS (RS256 ...)")
        if public_key is not None:
            check_public_key(public_key, algorithms)
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
            int_in("--port", str(port_value), 1, 65535) if port_value is not None
            else int_in("CHAT_PORT", get("CHAT_PORT", "8000") or "8000", 1, 65535)
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
        cross_node = (get("CHAT_CROSS_NODE", "routed") or "routed").strip().lower()
        if cross_node not in ("routed", "broadcast"):
            raise ConfigError(f"CHAT_CROSS_NODE={cross_node!r}: expected routed or broadcast")
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

        webhook_url = parse_webhook_url(get("CHAT_WEBHOOK_URL"))
        webhook_secret = check_webhook_secret(webhook_url, get("CHAT_WEBHOOK_SECRET"))
        transport_impl = (get("CHAT_TRANSPORT_IMPL", "lean") or "lean").strip().lower()
        if transport_impl not in TRANSPORT_IMPLS:
            raise ConfigError(f"CHAT_TRANSPORT_IMPL={transport_impl!r}: expected lean or stock")

        def number(name: str, default: str, low: float, high: float) -> float:
            return float_in(name, get(name, default) or default, low, high)

        def limit(rate_name: str, rate_default: str, burst_name: str, burst_default: str
                  ) -> RateLimit | None:
            rate = parse_rate(rate_name, get(rate_name, rate_default) or rate_default)
            burst = int_in(burst_name, get(burst_name, burst_default) or burst_default, 1, 10**9)
            return None if rate is None else RateLimit(rate, burst)

        media = media_settings(get, storage, redis_url)
        jwt_secret = secrets.token_urlsafe(32) if dev_mode else secret
        media_secret_value = get("CHAT_MEDIA_SECRET")
        if media_secret_value is not None and len(media_secret_value) < MEDIA_SECRET_MIN_CHARS:
            raise ConfigError(
                f"CHAT_MEDIA_SECRET is too short: use at least {MEDIA_SECRET_MIN_CHARS} characters")
        media_secret = media_secret_value.encode() if media_secret_value is not None else None

        return cls(
            **media,
            **abuse_settings(get, limit),
            **ops_settings(get),
            upload_limit=limit("CHAT_UPLOAD_RATE", "20/1h", "CHAT_UPLOAD_BURST", "10"),
            media_secret=media_secret,
            host=host,
            port=port,
            jwt_secret=jwt_secret,
            jwt_algorithms=algorithms,
            jwt_public_key=public_key,
            jwt_audience=get("CHAT_JWT_AUDIENCE"),
            jwt_issuer=get("CHAT_JWT_ISSUER"),
            storage=storage,
            mongo_url=get("CHAT_MONGO_URL", cls.mongo_url) or cls.mongo_url,
            mongo_db=get("CHAT_MONGO_DB", "chat") or "chat",
            mongo_connect_timeout_s=float_in(
                "CHAT_MONGO_CONNECT_TIMEOUT_S", get("CHAT_MONGO_CONNECT_TIMEOUT_S", "30") or "30",
                0, 3600,
            ),
            redis_url=redis_url,
            presence_lease_s=float_in(
                "CHAT_PRESENCE_LEASE_S", get("CHAT_PRESENCE_LEASE_S", "30") or "30", 1, 3600
            ),
            cross_node=cross_node,
            cross_node_buffer=int_in(
                "CHAT_CROSS_NODE_BUFFER", get("CHAT_CROSS_NODE_BUFFER", "10000") or "10000",
                100, 10_000_000,
            ),
            cors_origins=cors_origins,
            log_level=log_level,
            presence_grace_s=float_in(
                "CHAT_PRESENCE_GRACE_S", get("CHAT_PRESENCE_GRACE_S", "3") or "3", 0, 60
            ),
            send_limit=limit("CHAT_SEND_RATE", "20/10s", "CHAT_SEND_BURST", "10"),
            request_limit=limit("CHAT_REQUEST_RATE", "60/10s", "CHAT_REQUEST_BURST", "60"),
            max_packet_bytes=int_in(
                "CHAT_MAX_PACKET_BYTES", get("CHAT_MAX_PACKET_BYTES", "65536") or "65536",
                1024, 100 * 2**20,
            ),
            transports=transports,
            demo_page=dev_mode or flag("CHAT_DEMO_PAGE", get("CHAT_DEMO_PAGE", "0") or "0"),
            ws_compression=flag("CHAT_WS_COMPRESSION", get("CHAT_WS_COMPRESSION", "0") or "0"),
            debug_stats=flag("CHAT_DEBUG_STATS", get("CHAT_DEBUG_STATS", "0") or "0"),
            contact_filter=parse_contact_filter(
                "CHAT_CONTACT_FILTER", get("CHAT_CONTACT_FILTER", "off") or "off"
            ),
            contact_allowed_domains=parse_domains(
                "CHAT_CONTACT_ALLOWED_DOMAINS", get("CHAT_CONTACT_ALLOWED_DOMAINS", "") or ""
            ),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            webhook_timeout_s=number("CHAT_WEBHOOK_TIMEOUT_S", "5", 0.1, 60),
            webhook_concurrency=int_in(
                "CHAT_WEBHOOK_CONCURRENCY", get("CHAT_WEBHOOK_CONCURRENCY", "8") or "8", 1, 256),
            webhook_max_pending=int_in(
                "CHAT_WEBHOOK_MAX_PENDING", get("CHAT_WEBHOOK_MAX_PENDING", "100000") or "100000",
                1, 10**8),
            webhook_poll_s=number("CHAT_WEBHOOK_POLL_S", "1", 0.05, 60),
            unread_notify_after_s=number("CHAT_UNREAD_NOTIFY_AFTER_S", "60", 1, 7 * 86400),
            api_keys=parse_api_keys(get("CHAT_API_KEYS", "") or "", dev_mode),
            transport_impl=transport_impl,
            socket_buffer_bytes=int_in(
                "CHAT_SOCKET_BUFFER_BYTES", get("CHAT_SOCKET_BUFFER_BYTES", "4194304") or "4194304",
                4096, 2**30,
            ),
            connect_timeout_s=number("CHAT_CONNECT_TIMEOUT_S", "10", 0.1, 3600),
            max_pending_sessions=int_in(
                "CHAT_MAX_PENDING_SESSIONS", get("CHAT_MAX_PENDING_SESSIONS", "2000") or "2000",
                1, 10**6,
            ),
            ping_interval_s=number("CHAT_PING_INTERVAL_S", "25", 0.05, 3600),
            ping_timeout_s=number("CHAT_PING_TIMEOUT_S", "20", 0.05, 3600),
            dev_mode=dev_mode,
        )
