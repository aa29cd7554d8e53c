"""JSON Web Tokens: who a connection belongs to, and tokens for development and the CLI."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import jwt

from chat_server.domain.model import UserRef, UserType, is_valid_user_id


class TokenRejected(Exception):
    """A connection's token is missing or not acceptable; ``str()`` is the client message."""


@attrs.frozen
class Identity:
    user: UserRef
    expires_at: float  # epoch seconds


# The request headers ``find_token`` reads (WSGI-style environ keys): all that a session
# keeps of its handshake request (socketio/server.py).
TOKEN_HEADERS = ("HTTP_TOKEN", "HTTP_AUTHORIZATION")


def find_token(auth: object, environ: Mapping[str, Any]) -> str:
    """The handshake ``auth.token``, else the ``token`` header, else ``Authorization: Bearer``.

    The first one present is used; a bad one is not retried with the next.
    """
    if isinstance(auth, dict) and auth.get("token") is not None:
        token = auth["token"]
        if not isinstance(token, str):
            raise TokenRejected("Invalid token")
        return token
    header = environ.get("HTTP_TOKEN")
    if header:
        return str(header)
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization:
        scheme, _, value = str(authorization).partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise TokenRejected("Invalid token")
        return value.strip()
    raise TokenRejected("Token missing")


_MISSING = object()
# The largest exp accepted: the end of year 9999 (a timestamp datetime can still hold).
MAX_EXP = 253_402_300_799


def _first(claims: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> object:
    for path in paths:
        value: object = claims
        for part in path:
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is not _MISSING and value is not None:
            return value
    return _MISSING


def user_from_claims(claims: Mapping[str, Any]) -> UserRef:
    """The id from ``data.id``, ``sub`` or ``id``; the type from ``types[0]``, ``userType``,
    ``type`` or ``role``: the first present wins."""
    raw_id = _first(claims, [("data", "id"), ("sub",), ("id",)])
    # One spelling per user: "2", never "02" (two subjects must not name one user).
    if (isinstance(raw_id, str) and raw_id.isascii() and raw_id.isdigit()
            and len(raw_id) <= 16 and not raw_id.startswith("0")):
        raw_id = int(raw_id)
    if not is_valid_user_id(raw_id):
        raise TokenRejected("Invalid token")
    assert isinstance(raw_id, int)
    types = claims.get("types")
    raw_type = (
        types[0] if isinstance(types, list) and types
        else _first(claims, [("userType",), ("type",), ("role",)])
    )
    user_type = UserType.parse(raw_type)
    if user_type is None:
        raise TokenRejected("Unauthorized")
    return UserRef(user_type, raw_id)


class TokenVerifier:
    """Verifies with one key and a pinned list of algorithms; ``exp`` is required."""

    def __init__(
        self, key: str, algorithms: Sequence[str], audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        self._key = key
        self._algorithms = list(algorithms)
        self._audience = audience
        self._issuer = issuer

    def verify(self, token: str, now: float | None = None) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                # exp is checked below (PyJWT reads `true` as 1 and overflows on huge
                # numbers); the id claim by user_from_claims (numeric subs are common).
                options={"require": ["exp"], "verify_exp": False, "verify_sub": False,
                         "verify_aud": bool(self._audience)},
            )
        except (jwt.InvalidTokenError, OverflowError, ValueError, TypeError):
            raise TokenRejected("Invalid token") from None
        exp: Any = claims.get("exp")
        if type(exp) not in (int, float) or not 0 < exp <= MAX_EXP:
            raise TokenRejected("Invalid token")
        if exp <= (time.time() if now is None else now):
            raise TokenRejected("Token expired")
        return Identity(user_from_claims(claims), float(exp))


def issue_token(
    key: str, algorithm: str, user: UserRef, ttl_seconds: int,
    audience: str | None = None, issuer: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "userType": user.type.value,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, key, algorithm=algorithm)
