"""What clients write: message content, display snapshots, and the URLs they may carry."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from chat_server.domain.errors import FieldError, InvalidInput
from chat_server.domain.users import UserType

MAX_TEXT_CHARS = 5000
MAX_IMAGES = 10
MAX_URL_CHARS = 2048
MAX_DISPLAY_CHARS = 2048
MAX_PRODUCT_ID_CHARS = 128
MAX_CLIENT_MESSAGE_ID_CHARS = 64

ProductPrice = str | int | float


PRODUCT_FIELDS = ("product_name", "product_image_url", "product_price")
SIDE_FIELDS = {
    UserType.CUSTOMER: ("customer_name", "customer_profile_pic"),
    UserType.VENDOR: ("store_name", "store_logo_url"),
}
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@attrs.frozen
class UrlPolicy:
    """Which URLs a client may put where the other side's client will load them.

    https only (an http URL would let anyone on the path watch or change what is shown),
    on ``allowed_hosts`` and their subdomains when given. ``allow_http_loopback`` admits
    http on loopback hosts too: development mode, where the demo serves its own images.
    """

    allowed_hosts: frozenset[str] = frozenset()
    allow_http_loopback: bool = False

    def allows(self, value: object) -> bool:
        if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_CHARS:
            return False
        try:
            parts = urlsplit(value)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if not host:
            return False
        if parts.scheme != "https" and not (
            parts.scheme == "http" and self.allow_http_loopback and host in _LOOPBACK_HOSTS
        ):
            return False
        return not self.allowed_hosts or any(
            host == allowed or host.endswith("." + allowed) for allowed in self.allowed_hosts
        )

    @property
    def rule(self) -> str:
        where = f" on {', '.join(sorted(self.allowed_hosts))}" if self.allowed_hosts else ""
        return f"https URLs{where}"


@attrs.frozen
class ProductSnapshot:
    """Display data copied from the sends that created or refreshed a chat.

    ``None`` means "not given": merging keeps the value already stored. Each side writes
    only its own fields (``written_by``): a customer its name and picture, a vendor its
    store's name and logo; the product's fields come with the chat's first message and
    are afterwards refreshed by the vendor only.
    """

    product_name: str | None = None
    product_image_url: str | None = None
    product_price: ProductPrice | None = None
    store_name: str | None = None
    store_logo_url: str | None = None
    customer_name: str | None = None
    customer_profile_pic: str | None = None

    URL_FIELDS = ("product_image_url", "store_logo_url", "customer_profile_pic")

    def merged(self, update: ProductSnapshot | None) -> ProductSnapshot:
        if update is None:
            return self
        given = {k: v for k, v in attrs.asdict(update).items() if v is not None}
        return attrs.evolve(self, **given) if given else self

    def written_by(self, side: UserType, opening: bool) -> ProductSnapshot | None:
        """The fields of this update that ``side`` may write (``None`` when none is left);
        ``opening``: the update comes with the chat's first message."""
        allowed: tuple[str, ...] = SIDE_FIELDS[side]
        if opening or side is UserType.VENDOR:
            allowed += PRODUCT_FIELDS
        kept = {name: getattr(self, name) for name in allowed if getattr(self, name) is not None}
        return ProductSnapshot(**kept) if kept else None

    def is_empty(self) -> bool:
        # Not attrs.asdict: it copies recursively, on every send (2 % of the message path).
        return all(getattr(self, name) is None for name in _SNAPSHOT_FIELDS)

    def validate(self, urls: UrlPolicy) -> list[FieldError]:
        errors = []
        for name, value in attrs.asdict(self).items():
            if isinstance(value, str) and len(value) > MAX_DISPLAY_CHARS:
                errors.append(FieldError(name, f"must be at most {MAX_DISPLAY_CHARS} characters"))
            elif name in self.URL_FIELDS and value is not None and not urls.allows(value):
                errors.append(FieldError(name, f"must be one of the {urls.rule}"))
        return errors


_SNAPSHOT_FIELDS = tuple(field.name for field in attrs.fields(ProductSnapshot))


@attrs.frozen
class MessageContent:
    """What a message says: trimmed text, images, or both."""

    text: str | None
    images: tuple[str, ...]

    @classmethod
    def create(
        cls, text: str | None, images: list[str] | None, urls: UrlPolicy | None = None,
        has_attachments: bool = False,
    ) -> MessageContent:
        urls = urls or UrlPolicy()
        errors = []
        trimmed = text.strip() if text is not None else None
        if trimmed is not None and len(trimmed) > MAX_TEXT_CHARS:
            errors.append(FieldError("text", f"must be at most {MAX_TEXT_CHARS} characters"))
        images = images or []
        if len(images) > MAX_IMAGES:
            errors.append(FieldError("images", f"must hold at most {MAX_IMAGES} URLs"))
        elif not all(urls.allows(url) for url in images):
            errors.append(
                FieldError("images", f"must be {urls.rule} of at most {MAX_URL_CHARS} characters")
            )
        if not trimmed and not images and not has_attachments:
            errors.append(FieldError("text", "a message needs text, images or attachments"))
        if errors:
            raise InvalidInput(errors)
        return cls(trimmed or None, tuple(images))


def validate_product_id(product_id: str) -> list[FieldError]:
    if not 1 <= len(product_id) <= MAX_PRODUCT_ID_CHARS:
        return [FieldError("product_id", f"must be 1-{MAX_PRODUCT_ID_CHARS} characters")]
    return []


def validate_client_message_id(client_message_id: str | None) -> list[FieldError]:
    if client_message_id is not None and not (
        1 <= len(client_message_id) <= MAX_CLIENT_MESSAGE_ID_CHARS
    ):
        return [
            FieldError(
                "client_message_id", f"must be 1-{MAX_CLIENT_MESSAGE_ID_CHARS} characters"
            )
        ]
    return []


