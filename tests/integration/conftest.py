"""A MongoDB-compatible server for the whole session: SecantusDB (PyPI ``secantusdb``, a
test-only dependency), on a free port with its own data directory; and a fresh database
name per test so that tests never see each other's documents."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from mongo_support import start_secantusdb
from motor.motor_asyncio import AsyncIOMotorClient
from redis_support import RedisServer
from service_support import asyncapi_contract, free_port

from chat_server.adapters.mongo import create_mongo_client

# Every integration test checks what its Socket.IO clients received against
# docs/asyncapi.yaml (service_support.asyncapi_contract, autouse).
__all__ = ["asyncapi_contract"]


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mongodb://127.0.0.1:PORT/?retryWrites=false`` (without it SecantusDB slows down
    tenfold after ~10k writes). Fails loudly, with the server's output, when it cannot
    start: a test that needs MongoDB is never skipped."""
    port = free_port()
    process = start_secantusdb(tmp_path_factory.mktemp("secantusdb") / "db", port)
    yield f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture
def mongo_database_name() -> str:
    """A database name no other test uses (the test drops it when it is done)."""
    return f"test_{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Debian's redis-server on a free port, for the session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def mongo_client(mongo_url: str) -> AsyncIterator[AsyncIOMotorClient[Any]]:
    """One motor client per test module (the contract suites' MongoDB side)."""
    client = create_mongo_client(mongo_url)
    yield client
    client.close()
