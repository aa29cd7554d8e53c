"""Fixtures of the multi-node tests: Redis and MongoDB come from tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from service_support import Client, Devices, Server


@pytest.fixture
async def on() -> AsyncIterator[Any]:
    """``await on(node, "customer", id?)``: a device online on that node."""
    devices = Devices()

    async def device(node: Server, user_type: str, user_id: int | None = None) -> Client:
        return await devices.open(node.url, user_type, user_id)

    yield device
    await devices.close_all()
