"""What the marketplace's backend says about its users and products: trusted display data.

Display fields on chats are snapshots sent by clients (``ProductSnapshot``). Once the
backend set a user's profile or a product, every Chat object shows that instead, whatever
clients sent (``overlaid``).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from chat_server.domain.errors import FieldError
from chat_server.domain.model import (
    MAX_DISPLAY_CHARS,
    ProductPrice,
    ProductSnapshot,
    UrlPolicy,
    UserRef,
    UserType,
    validate_product_id,
)


@attrs.frozen
class Profile:
    """A customer's name and picture, or a vendor's store name and logo."""

    user: UserRef
    name: str | None
    avatar_url: str | None
    updated_at: datetime

    def validate(self, urls: UrlPolicy) -> list[FieldError]:
        return _checked(name=self.name, avatar_url=self.avatar_url, urls=urls)


@attrs.frozen
class Product:
    product_id: str
    name: str | None
    price: ProductPrice | None
    image_url: str | None
    updated_at: datetime

    def validate(self, urls: UrlPolicy) -> list[FieldError]:
        return validate_product_id(self.product_id) + _checked(
            name=self.name, image_url=self.image_url, urls=urls)


def _checked(urls: UrlPolicy, **fields: str | None) -> list[FieldError]:
    errors = []
    for field, value in fields.items():
        if value is None:
            continue
        if len(value) > MAX_DISPLAY_CHARS:
            errors.append(FieldError(field, f"must be at most {MAX_DISPLAY_CHARS} characters"))
        elif field.endswith("_url") and not urls.allows(value):
            errors.append(FieldError(field, f"must be one of the {urls.rule}"))
    return errors


def overlaid(
    snapshot: ProductSnapshot, customer: Profile | None, vendor: Profile | None,
    product: Product | None,
) -> ProductSnapshot:
    """The snapshot as chats show it: trusted values win over what clients sent."""
    changes: dict[str, object] = {}
    if customer is not None:
        changes.update(customer_name=customer.name, customer_profile_pic=customer.avatar_url)
    if vendor is not None:
        changes.update(store_name=vendor.name, store_logo_url=vendor.avatar_url)
    if product is not None:
        changes.update(product_name=product.name, product_price=product.price,
                       product_image_url=product.image_url)
    return attrs.evolve(snapshot, **changes) if changes else snapshot  # type: ignore[arg-type]


def side_fields(side: UserType) -> dict[str, None]:
    """The snapshot fields of one side, emptied: what erasing a user leaves of them."""
    if side is UserType.CUSTOMER:
        return {"customer_name": None, "customer_profile_pic": None}
    return {"store_name": None, "store_logo_url": None}
