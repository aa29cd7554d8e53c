"""What every Mongo adapter shares: ids at the boundary and the user-side field prefix.

Documents keep ids as ObjectId and times as BSON dates (milliseconds, UTC); the adapters
convert at the boundary to the domain's 24-hex strings and aware UTC datetimes. An id that
is not lowercase 24-hex names nothing: reads answer ``None`` / empty, updates of a chat
``ChatNotFound``, exactly like the in-memory adapter.
"""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId

from chat_server.domain.model import UserRef, UserType

Document = dict[str, Any]
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def oid(value: str) -> ObjectId | None:
    """The ObjectId written as ``value``; ``None`` unless it is 24 lowercase hex digits, the
    only spelling the service hands out (``ObjectId`` would also take upper case, and then
    one message would answer to two ids)."""
    if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
        return ObjectId(value)
    return None


def new_oid(value: str) -> ObjectId:
    """The id of an entity being stored: made by the IdGenerator, so malformed is a bug."""
    key = oid(value)
    if key is None:
        raise ValueError(f"not a 24-hex id: {value!r}")
    return key


def side(user_type: UserType) -> str:
    """"customer" / "vendor": the prefix of a chat's per-side fields."""
    return user_type.value


def user_key(user: UserRef) -> str:
    """"customer:2": one string naming a user, for equality lookups and ``_id``s."""
    return str(user)
