"""Groups of settings read together: media, webhooks, API keys, abuse bounds, operations.
Each returns the ``Settings`` fields it reads, checked."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chat_server.application.ports import RateLimit
from chat_server.domain.media import MIB
from chat_server.entrypoints.settings.values import (
    ConfigError,
    flag,
    float_in,
    int_in,
    parse_domains,
)

MEDIA_STORAGES = ("fs", "gridfs")
MEDIA_SECRET_MIN_CHARS = 32
# The media URL key derived from an HS* JWT secret: another key for another purpose.
_MEDIA_KEY_LABEL = b"chat-server media URL signing v1"


def derive_media_key(jwt_secret: str) -> bytes:
    return hmac.new(jwt_secret.encode(), _MEDIA_KEY_LABEL, hashlib.sha256).digest()


WEBHOOK_SECRET_MIN = 32


def parse_webhook_url(value: str | None) -> str | None:
    """An http(s) URL with a host; the error never echoes the URL (it may hold a password)."""
    if value is None:
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or not port_ok or any(c.isspace() for c in value)):
        raise ConfigError("CHAT_WEBHOOK_URL: expected an http:// or https:// URL with a host, "
                          "such as https://shop.example/hooks/chat")
    return value


def check_webhook_secret(url: str | None, secret: str | None) -> str | None:
    if url is None and secret is not None:
        raise ConfigError("CHAT_WEBHOOK_SECRET is set but CHAT_WEBHOOK_URL is not: webhooks "
                          "would silently stay off")
    if url is not None and secret is None:
        raise ConfigError("CHAT_WEBHOOK_URL needs CHAT_WEBHOOK_SECRET (at least "
                          f"{WEBHOOK_SECRET_MIN} characters) to sign the webhooks")
    if secret is not None and len(secret) < WEBHOOK_SECRET_MIN:
        raise ConfigError(f"CHAT_WEBHOOK_SECRET is too short: use at least {WEBHOOK_SECRET_MIN} "
                          "characters")
    return secret


API_KEY_MIN_CHARS = 32


def parse_api_keys(value: str, dev_mode: bool) -> tuple[str, ...]:
    """``CHAT_API_KEYS``: comma separated, each at least 32 characters. In development
    mode without keys, one random key for this run (printed at start)."""
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    short = [n for n, k in enumerate(keys, 1) if len(k) < API_KEY_MIN_CHARS]
    if short:
        raise ConfigError(f"CHAT_API_KEYS: key {short[0]} is shorter than "
                          f"{API_KEY_MIN_CHARS} characters")
    if not keys and dev_mode:
        return (secrets.token_urlsafe(32),)
    return keys


def abuse_settings(
    get: Callable[[str, str], str | None], limit: Callable[[str, str, str, str], RateLimit | None]
) -> dict[str, Any]:
    """The bounds against abuse (docs/limits.md has the table)."""
    hosts = parse_domains("CHAT_ALLOWED_MEDIA_HOSTS", get("CHAT_ALLOWED_MEDIA_HOSTS", "") or "")

    def number(name: str, default: str, low: float, high: float) -> float:
        return float_in(name, get(name, default) or default, low, high)

    return {
        "new_chat_limit": limit("CHAT_NEW_CHAT_RATE", "10/1h", "CHAT_NEW_CHAT_BURST", "10"),
        "connect_limit": limit("CHAT_CONNECT_RATE", "30/1m", "CHAT_CONNECT_BURST", "30"),
        "allowed_media_hosts": hosts,
        "max_sockets_per_user": int_in(
            "CHAT_MAX_SOCKETS_PER_USER", get("CHAT_MAX_SOCKETS_PER_USER", "20") or "20", 1, 10_000),
        "presence_offline_delay_s": number("CHAT_PRESENCE_OFFLINE_DELAY_S", "5", 0, 3600),
        "storage_timeout_s": number("CHAT_STORAGE_TIMEOUT_S", "5", 0.1, 600),
        "report_limit": limit("CHAT_REPORT_RATE", "10/1d", "CHAT_REPORT_BURST", "10"),
        "edit_window_s": number("CHAT_EDIT_WINDOW_S", "900", 0, 365 * 86400),
        "request_cost_bytes": int_in(
            "CHAT_REQUEST_COST_BYTES", get("CHAT_REQUEST_COST_BYTES", "16384") or "16384",
            1024, 2**30),
    }


LOG_FORMATS = ("text", "json")


def ops_settings(get: Callable[[str, str], str | None]) -> dict[str, Any]:
    """Operations: ``CHAT_METRICS``, ``CHAT_LOG_FORMAT``, ``CHAT_ACCESS_LOG``,
    ``CHAT_DRAIN_S`` (docs/deployment.md)."""
    log_format = (get("CHAT_LOG_FORMAT", "text") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"CHAT_LOG_FORMAT={log_format!r}: expected text or json")
    return {
        "metrics": flag("CHAT_METRICS", get("CHAT_METRICS", "1") or "1"),
        "log_format": log_format,
        "access_log": flag("CHAT_ACCESS_LOG", get("CHAT_ACCESS_LOG", "0") or "0"),
        "drain_s": float_in("CHAT_DRAIN_S", get("CHAT_DRAIN_S", "10") or "10", 0, 3600),
    }


def media_settings(
    get: Callable[[str, str], str | None], storage: str, redis_url: str | None
) -> dict[str, Any]:
    """The ``CHAT_MEDIA_*`` settings, checked (docs/attachments.md has the table). With
    several nodes (``CHAT_REDIS_URL``) media default to GridFS: files under one node's
    directory would be missing on the others."""
    def number(name: str, default: str, low: int, high: int) -> int:
        return int_in(name, get(name, default) or default, low, high)

    default = "gridfs" if redis_url else "fs"
    media_storage = (get("CHAT_MEDIA_STORAGE", default) or default).strip().lower()
    if media_storage not in MEDIA_STORAGES:
        raise ConfigError(
            f"CHAT_MEDIA_STORAGE={media_storage!r}: expected one of {', '.join(MEDIA_STORAGES)}")
    if media_storage == "gridfs" and storage != "mongo":
        raise ConfigError("CHAT_MEDIA_STORAGE=gridfs needs CHAT_STORAGE=mongo")
    if media_storage == "fs" and redis_url:
        raise ConfigError("CHAT_MEDIA_STORAGE=fs serves one node, but CHAT_REDIS_URL is set: "
                          "use CHAT_MEDIA_STORAGE=gridfs so every node reads every upload")
    base_url = (get("CHAT_MEDIA_BASE_URL", "") or "").rstrip("/")
    if base_url and not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", base_url):
        raise ConfigError(f"CHAT_MEDIA_BASE_URL={base_url!r}: expected http(s)://host[/path]")
    return {
        "media_storage": media_storage,
        "media_dir": str(Path(get("CHAT_MEDIA_DIR", "media") or "media").expanduser().absolute()),
        "media_max_bytes": number("CHAT_MEDIA_MAX_BYTES", str(10 * MIB), 1024, 1024 * MIB),
        "media_max_pdf_bytes": number("CHAT_MEDIA_MAX_PDF_BYTES", str(20 * MIB), 1024, 1024 * MIB),
        "media_url_ttl_s": number("CHAT_MEDIA_URL_TTL_S", "86400", 60, 30 * 86_400),
        "media_unattached_ttl_s": number("CHAT_MEDIA_UNATTACHED_TTL_S", "86400", 60, 365 * 86_400),
        "media_workers": number("CHAT_MEDIA_WORKERS", "2", 1, 64),
        "media_queue": number("CHAT_MEDIA_QUEUE", "8", 0, 10_000),
        "media_max_receiving": number("CHAT_MEDIA_MAX_RECEIVING", "16", 1, 10_000),
        "media_receive_timeout_s": float_in(
            "CHAT_MEDIA_RECEIVE_TIMEOUT_S", get("CHAT_MEDIA_RECEIVE_TIMEOUT_S", "60") or "60",
            1, 3600),
        "media_base_url": base_url,
    }
