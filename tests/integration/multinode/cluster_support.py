"""Real ``chat-server`` nodes sharing MongoDB and Redis, for the multi-node tests."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from service_support import API_KEY, SECRET, Server

LEASE_S = 2.0
_databases = itertools.count(1)


def node_env(mongo_url: str, redis_url: str, database: str) -> dict[str, str]:
    return {
        "CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo", "CHAT_MONGO_URL": mongo_url,
        "CHAT_MONGO_DB": database, "CHAT_REDIS_URL": redis_url,
        "CHAT_TRANSPORTS": "websocket", "CHAT_PRESENCE_GRACE_S": "2",
        "CHAT_PRESENCE_OFFLINE_DELAY_S": "0.5",
        "CHAT_PRESENCE_LEASE_S": str(LEASE_S), "CHAT_API_KEYS": API_KEY,
    }


def running_nodes(mongo_url: str, redis_url: str, logs: Path, label: str, count: int
                  ) -> Iterator[tuple[dict[str, str], list[Server]]]:
    """``count`` nodes on a database of their own, stopped when the generator closes."""
    env = node_env(mongo_url, redis_url, f"{label}_{os.getpid()}_{next(_databases)}")
    nodes = [Server(env, logs / f"node-{n}.log").start() for n in "abcdefgh"[:count]]
    yield env, nodes
    for node in nodes:
        node.stop()
