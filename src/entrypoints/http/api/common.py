"""What every API route shares: envelopes, the error table, bounded JSON bodies, API keys."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from chat_server.domain.errors import InvalidInput
from chat_server.domain.model import MAX_ID, UserRef, UserType
from chat_server.entrypoints.auth import TokenRejected, TokenVerifier, find_token
from chat_server.entrypoints.errors import DOMAIN_ERRORS, INVALID, domain_field_errors, lookup
from chat_server.entrypoints.socketio.payloads import PayloadError

logger = logging.getLogger("chat_server.api")

MAX_BODY_BYTES = 64 * 1024
RETRY_AFTER_S = 5


class ApiKeyRejected(Exception):
    pass


class BodyTooLarge(Exception):
    pass


ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    PayloadError: INVALID,
    ApiKeyRejected: (401, "Invalid API key"),
    TokenRejected: (401, ""),  # the message is the rejection's own, as at the handshake
    BodyTooLarge: (413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB"),
    **DOMAIN_ERRORS,
}


def envelope(status: int, message: str | None, data: Any = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"statusCode": status, "error": status >= 400, "message": message}
    if data is not None:
        body["data"] = data
    body.update(extra)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


def error_response(exc: Exception, what: str) -> Response:
    status, message = lookup(ERRORS, exc)
    if status == 500:
        logger.error("%s failed", what, exc_info=exc)
    elif status == 503:
        logger.warning("%s: %s", what, exc)
    data: dict[str, Any] | None = None
    if isinstance(exc, PayloadError):
        data = {"errors": exc.errors}
    elif isinstance(exc, InvalidInput):
        data = {"errors": domain_field_errors(exc)}
    return envelope(status, message or str(exc), data)


Handler = Callable[[Request], Awaitable[Response]]


def answering(what: str, handler: Handler) -> Handler:
    """Every failure of ``handler`` becomes its envelope: never a stack trace."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ClientDisconnect:
            return Response(status_code=499)
        except Exception as exc:
            return error_response(exc, what)

    return run


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The JSON body, refused as soon as it passes ``limit`` (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise PayloadError([{"field": "body", "message": "must be JSON"}]) from None


class ApiKeys:
    """The server API's keys (``CHAT_API_KEYS``), compared in constant time. Without keys
    the server API does not exist (404)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [k.encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, request: Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = value.strip().encode() if scheme.lower() == "bearer" else b""
        matched = False
        for key in self._keys:  # every key compared, so the time says nothing
            matched |= hmac.compare_digest(given, key)
        if not given or not matched:
            raise ApiKeyRejected()


def user_of(request: Request, verifier: TokenVerifier) -> UserRef:
    """The user of a request with a JWT, verified exactly as at the Socket.IO handshake."""
    environ = {k: v for k, v in (("HTTP_TOKEN", request.headers.get("token")),
                                 ("HTTP_AUTHORIZATION", request.headers.get("authorization")))
               if v}
    return verifier.verify(find_token(None, environ)).user


def path_user(request: Request) -> UserRef:
    """``{type}/{id}`` of the path: customer or vendor (any case), a positive integer."""
    errors = []
    user_type = UserType.parse(request.path_params.get("user_type"))
    if user_type is None:
        errors.append({"field": "type", "message": "must be customer or vendor"})
    raw = str(request.path_params.get("user_id", ""))
    user_id = int(raw) if raw.isascii() and raw.isdigit() and not raw.startswith("0") else 0
    if not 1 <= user_id <= MAX_ID:
        errors.append({"field": "id", "message": f"must be an integer from 1 to {MAX_ID}"})
    if errors:
        raise PayloadError(errors)
    assert user_type is not None
    return UserRef(user_type, user_id)


def query_int(request: Request, name: str, low: int, high: int, default: int | None
              ) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 16) or not low <= int(raw) <= high:
        raise PayloadError([{"field": name, "message": f"must be an integer from {low} to {high}"}])
    return int(raw)
