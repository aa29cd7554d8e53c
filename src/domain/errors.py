"""Domain errors, named after the business case; the entrypoint maps them to status codes."""

from __future__ import annotations

import attrs


class DomainError(Exception):
    """Base of every error a client can cause by asking for something not allowed."""


@attrs.frozen
class FieldError:
    """One invalid input field; ``field`` uses the domain's attribute name."""

    field: str
    message: str


class InvalidInput(DomainError):
    """The request breaks a rule on its content (text length, URLs, ids ...)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class ChatNotFound(DomainError):
    pass


class MessageNotFound(DomainError):
    pass


class UserNotFound(DomainError):
    """No trusted profile is stored for this user."""


class ProductNotFound(DomainError):
    """No trusted product is stored under this id."""


class NotAChatParticipant(DomainError):
    pass


class NotTheSender(DomainError):
    """Only the sender of a message may delete it."""


class NotYourMessage(DomainError):
    """Only the sender of a message may edit it."""


class EditWindowPassed(DomainError):
    """A message can be edited only for a while after it was sent."""


class BlockedByCounterpart(DomainError):
    """The other participant blocks this user: nothing they send reaches them."""


class NoSharedChat(DomainError):
    """Presence is only revealed between users who share a chat."""


class UserNotOnline(DomainError):
    """A /chat connection needs an open /presence connection of the same user."""


class RateLimitExceeded(DomainError):
    """A per-user bucket is empty (``str()`` names which); nothing was done."""


class DuplicateClientMessageId(DomainError):
    """A message with this (sender, client_message_id) is already stored."""


class StorageUnavailable(Exception):
    """A storage backend does not answer; raised by adapters, answered with 503."""
