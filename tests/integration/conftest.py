"""A MongoDB-compatible server for the whole session: SecantusDB (PyPI ``secantusdb``, a
test-only dependency), on a free port with its own data directory; and a fresh database
name per test so that tests never see each other's documents."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _secantusd() -> str:
    beside = Path(sys.executable).with_name("secantusd-py")
    found = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if found is None:
        pytest.fail("secantusd-py is missing: `make test` installs it (secantusdb, test extra)",
                    pytrace=False)
    return found


def _answers(url: str) -> bool:
    try:
        with MongoClient(url, serverSelectionTimeoutMS=500) as client:
            client.admin.command("ping")
        return True
    except PyMongoError:
        return False


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mongodb://127.0.0.1:PORT/?retryWrites=false`` (without it SecantusDB slows down
    tenfold after ~10k writes). Fails loudly, with the server's output, when it cannot
    start: a test that needs MongoDB is never skipped."""
    data = tmp_path_factory.mktemp("secantusdb")
    port = _free_port()
    log_path = data / "secantusd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [_secantusd(), "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", str(data / "db")],
            stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(5)
            pytest.fail(f"SecantusDB did not answer on port {port} within {START_TIMEOUT_S:g} s "
                        f"(exit status {process.returncode}):\n{log_path.read_text()[-3000:]}",
                        pytrace=False)
        time.sleep(0.1)
    yield url
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
