"""Confirming deliveries that another server node made."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from chat_server.application.ports import Clock, MessageRepository
from chat_server.domain.model import UserRef


@attrs.frozen
class ConfirmDeliveries:
    """Messages written to at least one socket of each recipient, by recipient."""

    deliveries: Mapping[UserRef, tuple[str, ...]]


class ConfirmDeliveriesHandler:
    """A message stored on one node awaits delivery to a recipient that node did not hold
    (``SendMessageHandler``); the node that wrote it to the recipient's socket confirms it.

    - The messages no longer await delivery to that recipient: the next connect does not
      offer them again.
    - ``delivered_at`` is the time of the confirmation for a message that had none (one set
      as it was stored, the recipient being online, is kept).
    - One storage write per recipient, whatever the number of messages.
    """

    def __init__(self, *, messages: MessageRepository, clock: Clock) -> None:
        self._messages = messages
        self._clock = clock

    async def __call__(self, cmd: ConfirmDeliveries) -> None:
        now = self._clock.now()
        for recipient, ids in cmd.deliveries.items():
            if ids:
                await self._messages.mark_delivered(recipient, list(ids), now)
