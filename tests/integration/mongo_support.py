"""Starting SecantusDB (PyPI ``secantusdb``, a MongoDB-compatible test server) by hand, for
tests that stop and restart it; the session server is the ``mongo_url`` fixture."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError


def secantusd() -> str:
    beside = Path(sys.executable).with_name("secantusd-py")
    found = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if found is None:
        pytest.fail("secantusd-py is missing: `make test` installs it (secantusdb, test extra)",
                    pytrace=False)
    return found


def answers(url: str) -> bool:
    try:
        with MongoClient(url, serverSelectionTimeoutMS=500) as client:
            client.admin.command("ping")
        return True
    except PyMongoError:
        return False


def start_secantusdb(data: Path, port: int, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """A server on ``port`` keeping its files in ``data`` (reused across restarts)."""
    data.mkdir(parents=True, exist_ok=True)
    log_path = data.with_suffix(".log")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [secantusd(), "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(data)],
            stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    deadline = time.monotonic() + timeout
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(5)
            pytest.fail(f"SecantusDB did not answer on port {port} within {timeout:g} s (exit "
                        f"status {process.returncode}):\n{log_path.read_text()[-3000:]}",
                        pytrace=False)
        time.sleep(0.1)
    return process
