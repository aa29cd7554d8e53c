"""``chat-server``: serve (the default), or print a token.

    chat-server [serve] [--host HOST] [--port PORT]
    chat-server token --type customer --id 2 [--ttl 3600] [--private-key PATH]

A bad configuration or an unreachable storage ends the process with one line on stderr
and exit status 2 (configuration) or 3 (storage), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from chat_server.domain.errors import StorageUnavailable
from chat_server.domain.model import UserRef, UserType
from chat_server.entrypoints.app import ChatApp, create_app
from chat_server.entrypoints.auth import issue_token
from chat_server.entrypoints.settings import ConfigError, Settings

EXIT_CONFIG = 2
EXIT_STORAGE = 3
DEV_TOKEN_TTL_S = 24 * 3600
# Open Socket.IO connections never end by themselves: give them this long, then close.
GRACEFUL_SHUTDOWN_S = 3


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
    _configure_logging(settings.log_level)
    try:
        _run(_serve(settings))
    except StorageUnavailable as exc:
        print(f"chat-server: storage unavailable: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except OSError as exc:  # e.g. the port is taken
        print(f"chat-server: cannot serve on {settings.host}:{settings.port}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        pass
    return 0


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


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _run(coro: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    await app.startup()
    try:
        config = uvicorn.Config(
            app.asgi, host=settings.host, port=settings.port, lifespan="off",
            log_level=settings.log_level, ws_max_size=settings.max_packet_bytes,
            http="httptools", ws="auto", loop="none", access_log=False,
            server_header=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ws_per_message_deflate=settings.ws_compression,
        )
        server = uvicorn.Server(config)
        if settings.dev_mode:
            _announce_development_mode(app)
        if settings.redis_url and "polling" in settings.transports:
            logging.getLogger("chat_server").warning(
                "CHAT_REDIS_URL is set and long-polling is enabled: with several nodes, "
                "polling needs sticky sessions at the load balancer; without them set "
                "CHAT_TRANSPORTS=websocket (see docs/deployment.md)")
        logging.getLogger("chat_server").info(
            "serving /presence and /chat on http://%s:%d with %s storage",
            settings.host, settings.port, settings.storage,
        )
        await server.serve()
        if not server.started and not server.should_exit:
            raise OSError(98, "could not bind")
    finally:
        await app.shutdown()


def _announce_development_mode(app: ChatApp) -> None:
    s = app.settings
    customer = app.dev_token(UserRef(UserType.CUSTOMER, 1), DEV_TOKEN_TTL_S)
    vendor = app.dev_token(UserRef(UserType.VENDOR, 1), DEV_TOKEN_TTL_S)
    bar = "=" * 78
    print(
        f"{bar}\n"
        "DEVELOPMENT MODE: no CHAT_JWT_SECRET or CHAT_JWT_PUBLIC_KEY is set.\n"
        "Tokens are signed with a random secret made for this run; anyone can get one from\n"
        "POST /dev/token. Never expose this server: set a key for real use.\n"
        f"  secret:            {s.jwt_secret}\n"
        f"  customer 1 token:  {customer}\n"
        f"  vendor 1 token:    {vendor}\n"
        f"  server API key:    {s.api_keys[0] if s.api_keys else '(none)'}\n"
        f"  demo page:         http://{s.host}:{s.port}/\n"
        f"  server API:        http://{s.host}:{s.port}/api/v1 (docs/server-api.md)\n"
        f"{bar}",
        file=sys.stderr, flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
