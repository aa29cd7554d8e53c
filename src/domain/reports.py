"""A user reporting another (abuse, fraud): stored for the marketplace's moderators."""

from __future__ import annotations

from datetime import datetime

import attrs

from chat_server.domain.errors import FieldError, InvalidInput
from chat_server.domain.users import UserRef

MAX_REASON_CHARS = 1000


@attrs.frozen
class Report:
    id: str
    reporter: UserRef
    reported: UserRef
    chat_id: str | None
    reason: str
    created_at: datetime


def checked_reason(reason: str) -> str:
    """The reason, trimmed: 1 to 1,000 characters."""
    trimmed = reason.strip()
    if not 1 <= len(trimmed) <= MAX_REASON_CHARS:
        raise InvalidInput([FieldError("reason", f"must be 1-{MAX_REASON_CHARS} characters")])
    return trimmed
