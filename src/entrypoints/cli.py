"""``chat-server``: serve (the default), or print a token.

    chat-server [serve] [--host HOST] [--port PORT]
    chat-server token --type customer --id 2 [--ttl 3600] [--private-key PATH]

A bad configuration, an unreachable storage or a port that cannot be listened on ends the
process with one line on stderr and exit status 2 (configuration), 3 (storage) or 4 (the
port), never a traceback. SIGTERM drains the node (``serving.ChatServer``) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from chat_server.domain.errors import StorageUnavailable
from chat_server.domain.model import UserRef, UserType
from chat_server.entrypoints.app import ChatApp, create_app
from chat_server.entrypoints.auth import issue_token
from chat_server.entrypoints.observability.access import AccessLog
from chat_server.entrypoints.observability.logs import configure_logging, json_line
from chat_server.entrypoints.serving import (
    ChatServer,
    bind_listeners,
    server_config,
    tune_gc,
    websocket_protocol,
)
from chat_server.entrypoints.settings import ConfigError, Settings

EXIT_CONFIG = 2
EXIT_STORAGE = 3
EXIT_PORT = 4
DEV_TOKEN_TTL_S = 24 * 3600


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-server",
        description="Real-time chat between customers and vendors over Socket.IO. "
        "Configured by CHAT_* environment variables (see the README); flags win over them.",
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve Socket.IO and HTTP (the default)")
    for p in (parser, serve):
        p.add_argument("--host", help="interface to listen on (CHAT_HOST, default 127.0.0.1)")
        p.add_argument("--port", help="port to listen on (CHAT_PORT, default 8000)")
    token = commands.add_parser("token", help="print a JWT for a user, signed with the "
                                "configured key")
    token.add_argument("--type", required=True, choices=["customer", "vendor"])
    token.add_argument("--id", required=True, type=int)
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.add_argument("--private-key", help="PEM file, for RS*/ES*/PS*/EdDSA algorithms")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "token":
            print(_token(args))
            return 0
        settings = Settings.load(host=args.host, port=args.port)
        _ = settings.media_signing_key  # serving needs one (RS256 has no secret to derive it)
    except ConfigError as exc:
        print(f"chat-server: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    try:
        listeners = bind_listeners(settings.host, settings.port)
    except OSError as exc:  # e.g. the port is taken
        return _fatal(settings, _cannot_listen(settings, exc), EXIT_PORT)
    try:
        _run(_serve(settings, listeners))
    except StorageUnavailable as exc:
        return _fatal(settings, f"storage unavailable: {exc}", EXIT_STORAGE)
    except OSError as exc:  # listening failed after all: another process took the port
        return _fatal(settings, _cannot_listen(settings, exc), EXIT_PORT)
    except KeyboardInterrupt:
        pass
    finally:
        for sock in listeners:
            sock.close()
    return 0


def _cannot_listen(settings: Settings, exc: OSError) -> str:
    reason = (exc.strerror or str(exc)).lower()
    hint = " (another process listens there: stop it, or set CHAT_PORT / --port)" if (
        "in use" in reason) else ""
    return f"cannot listen on {settings.host}:{settings.port}: {reason}{hint}"


def _fatal(settings: Settings, message: str, status: int) -> int:
    """The one line that ends the process, in the configured log format."""
    if settings.log_format == "json":
        print(json_line("CRITICAL", "chat_server", message), file=sys.stderr)
    else:
        print(f"chat-server: {message}", file=sys.stderr)
    return status


def _token(args: argparse.Namespace) -> str:
    settings = Settings.load()
    algorithm = settings.jwt_algorithms[0]
    if not 1 <= args.id <= 2**53 - 1:
        raise ConfigError("--id must be a positive integer")
    if args.ttl < 1:
        raise ConfigError("--ttl must be at least 1 second")
    if algorithm.startswith("HS"):
        if settings.dev_mode:
            raise ConfigError("set CHAT_JWT_SECRET to the server's secret (a server in "
                              "development mode prints its tokens at start)")
        key = settings.verification_key
    else:
        if not args.private_key:
            raise ConfigError(f"{algorithm} tokens need --private-key PEM-FILE")
        try:
            key = Path(args.private_key).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.private_key}: {exc.strerror}") from None
    user_type = UserType.parse(args.type)
    assert user_type is not None
    try:
        return issue_token(key, algorithm, UserRef(user_type, args.id), args.ttl,
                           settings.jwt_audience, settings.jwt_issuer)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot sign with this key: {exc}") from None


def _run(coro: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]


async def _serve(settings: Settings, listeners: list[socket.socket]) -> None:
    app = create_app(settings)
    await app.startup()
    tune_gc()
    try:
        config = server_config(
            app=AccessLog(app.asgi) if settings.access_log else app.asgi,
            host=settings.host, port=settings.port, lifespan="off",
            log_level=settings.log_level, ws_max_size=settings.max_packet_bytes,
            http="httptools", loop="none",
            ws=websocket_protocol(settings.transport_impl),
            server_header=False, timeout_graceful_shutdown=settings.drain_s,
            ws_per_message_deflate=settings.ws_compression,
        )

        def serving() -> None:  # once uvicorn listens
            if settings.dev_mode:
                _announce_development_mode(app)
            logging.getLogger("chat_server").info(
                "serving /presence and /chat on http://%s:%d with %s storage",
                settings.host, settings.port, settings.storage,
            )

        server = ChatServer(config, app, settings.drain_s, serving)
        if settings.redis_url and "polling" in settings.transports:
            logging.getLogger("chat_server").warning(
                "CHAT_REDIS_URL is set and long-polling is enabled: with several nodes, "
                "polling needs sticky sessions at the load balancer; without them set "
                "CHAT_TRANSPORTS=websocket (see docs/deployment.md)")
        await server.serve(sockets=listeners)
        if not server.started and not server.should_exit:
            raise OSError(98, "could not listen")
    finally:
        await app.shutdown()


def _announce_development_mode(app: ChatApp) -> None:
    s = app.settings
    customer = app.dev_token(UserRef(UserType.CUSTOMER, 1), DEV_TOKEN_TTL_S)
    vendor = app.dev_token(UserRef(UserType.VENDOR, 1), DEV_TOKEN_TTL_S)
    bar = "=" * 78
    lines = [
        "DEVELOPMENT MODE: no CHAT_JWT_SECRET or CHAT_JWT_PUBLIC_KEY is set.",
        "Tokens are signed with a random secret made for this run; anyone can get one from",
        "POST /dev/token. Never expose this server: set a key for real use.",
        f"  secret:            {s.jwt_secret}",
        f"  customer 1 token:  {customer}",
        f"  vendor 1 token:    {vendor}",
        f"  server API key:    {s.api_keys[0] if s.api_keys else '(none)'}",
        f"  demo page:         http://{s.host}:{s.port}/",
        f"  server API:        http://{s.host}:{s.port}/api/v1 (docs/server-api.md)",
    ]
    # Development mode prints its own throw-away credentials on purpose, and only there.
    text = (json_line("WARNING", "chat_server.dev", " / ".join(x.strip() for x in lines))
            if s.log_format == "json" else "\n".join([bar, *lines, bar]))
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
