"""Who takes part: a user is the pair (type, id)."""

from __future__ import annotations

import enum

import attrs

MAX_ID = 2**53 - 1


class UserType(enum.Enum):
    CUSTOMER = "customer"
    VENDOR = "vendor"

    # Members are singletons compared by identity, so identity is their hash: Enum's own
    # hashes the member's name in Python, several times per message (UserRef keys).
    __hash__ = object.__hash__

    @property
    def other(self) -> UserType:
        return UserType.VENDOR if self is UserType.CUSTOMER else UserType.CUSTOMER

    @classmethod
    def parse(cls, value: object) -> UserType | None:
        """Case-insensitive, as clients write ``customer`` and ``CUSTOMER`` alike."""
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                return None
        return None


@attrs.frozen
class UserRef:
    """A user is the pair (type, id): customer 2 and vendor 2 are different users."""

    type: UserType
    id: int

    def __str__(self) -> str:
        return f"{_PREFIX[self.type]}{self.id}"


# ``"customer:"``, ``"vendor:"``: an Enum's ``value`` is a Python-level property.
_PREFIX = {kind: f"{kind.value}:" for kind in UserType}


def is_valid_user_id(value: object) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID


