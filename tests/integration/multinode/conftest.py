"""Fixtures of the multi-node tests: Redis here, MongoDB from tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_support import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
