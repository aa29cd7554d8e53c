"""The motor client, waiting for MongoDB at start-up, the indexes the queries need, and
readiness.

Start-up sequence (the container's): ``create_mongo_client`` -> ``prepare_mongo`` (that is
``wait_for_mongo`` then ``ensure_indexes``) -> serve -> ``client.close()``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pymongo
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure, PyMongoError
from pymongo.monitoring import CommandListener

from chat_server.domain.errors import StorageUnavailable

logger = logging.getLogger("chat_server.mongo")

P = ParamSpec("P")
T = TypeVar("T")

APP_NAME = "chat-server"
# MongoDB does not answer: no server selectable, a network error or timeout, a primary
# stepping down. ConnectionFailure is the base of ServerSelectionTimeoutError,
# AutoReconnect, NetworkTimeout, NotPrimaryError and WaitQueueTimeoutError.
MONGO_DOWN = (ConnectionFailure,)
# wait_for_mongo pings again after this long; readiness pings give up after this long.
RETRY_INTERVAL_S = 0.5
READY_TIMEOUT_S = 1.0
# Every storage call of a request is bounded by this (CHAT_STORAGE_TIMEOUT_S): a stalled
# MongoDB is a 503, never a request that hangs.
STORAGE_TIMEOUT_S = 5.0


def translate_outages(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Bound the call by the adapter's ``timeout_s`` and raise ``StorageUnavailable`` (a
    503 for the client) for a MongoDB that does not answer in time; every other error is
    a bug or a contract case and propagates as it is.

    ``pymongo.timeout`` bounds server selection, connection checkout and every command of
    the call together; motor copies the context into its worker thread, so it applies
    there too, and a call that waited for a worker thread meets its deadline at once.
    """

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        timeout_s = getattr(args[0], "timeout_s", STORAGE_TIMEOUT_S) if args else None
        try:
            with pymongo.timeout(timeout_s):
                return await method(*args, **kwargs)
        except MONGO_DOWN as exc:
            raise StorageUnavailable(f"MongoDB does not answer: {_first_line(exc)}") from exc
        except PyMongoError as exc:
            if exc.timeout:  # e.g. ExecutionTimeout: the deadline passed on the server
                raise StorageUnavailable(
                    f"MongoDB did not answer within {timeout_s:g} s: {_first_line(exc)}"
                ) from exc
            raise

    return wrapper


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:limit]


def _url_options(url: str) -> set[str]:
    """The option names written in a connection string, lower-cased (MongoDB's options are
    case-insensitive)."""
    return {name.lower() for name, _ in parse_qsl(urlsplit(url).query)}


def create_mongo_client(
    url: str,
    connect_timeout_s: float = 2.0,
    *,
    server_selection_timeout_s: float = 2.0,
    event_listeners: Sequence[CommandListener] = (),
) -> AsyncIOMotorClient[Any]:
    """A client that connects lazily (no I/O here).

    Times come back as aware UTC datetimes. The short server selection timeout turns an
    outage into a quick 503 instead of pymongo's default 30 s wait per request.
    ``connectTimeoutMS``, ``serverSelectionTimeoutMS`` and ``appname`` written in the URL
    win over the arguments, so operators tune them where they configure the server.
    ``event_listeners`` is for tests and monitoring (pymongo command listeners).
    """
    given = _url_options(url)
    defaults: dict[str, Any] = {
        "appname": APP_NAME,
        "connectTimeoutMS": int(connect_timeout_s * 1000),
        "serverSelectionTimeoutMS": int(server_selection_timeout_s * 1000),
    }
    options: dict[str, Any] = {k: v for k, v in defaults.items() if k.lower() not in given}
    if event_listeners:
        options["event_listeners"] = list(event_listeners)
    return AsyncIOMotorClient(url, tz_aware=True, tzinfo=UTC, **options)


async def _ping(client: AsyncIOMotorClient[Any], timeout_s: float) -> None:
    # pymongo.timeout bounds server selection, connecting and the command together; motor
    # copies the context into its worker thread, so it applies to this call.
    with pymongo.timeout(timeout_s):
        await client.admin.command("ping")


async def wait_for_mongo(client: AsyncIOMotorClient[Any], timeout_s: float) -> None:
    """Ping until MongoDB answers, for at most ``timeout_s`` seconds (at least one ping).

    Raises ``StorageUnavailable`` naming the last error once the time is up, and at once
    when the server answers with a refusal (e.g. bad credentials): waiting cannot fix it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    attempts = 0
    while True:
        attempts += 1
        try:
            await _ping(client, max(deadline - loop.time(), RETRY_INTERVAL_S))
            if attempts > 1:
                logger.info("MongoDB answers after %d attempts", attempts)
            return
        except (ConnectionFailure, ExecutionTimeout) as exc:
            last: PyMongoError = exc
        except OperationFailure as exc:
            raise StorageUnavailable(f"MongoDB refused the ping: {_first_line(exc)}") from exc
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise StorageUnavailable(
                f"MongoDB did not answer within {timeout_s:g} s ({attempts} attempts; "
                f"last error {type(last).__name__}: {_first_line(last)})"
            ) from last
        if attempts == 1:
            logger.warning("waiting up to %g s for MongoDB: %s", timeout_s, _first_line(last))
        await asyncio.sleep(min(RETRY_INTERVAL_S, remaining))


# Each index names the queries it serves; docs/storage.md explains every one of them.
INDEXES: dict[str, list[IndexModel]] = {
    "chats": [
        # Uniqueness of a chat (open / find). Customer and vendor lead so that the prefix
        # (customer_id, vendor_id) also answers sees_presence_of and a customer's audience.
        IndexModel([("customer_id", ASCENDING), ("vendor_id", ASCENDING),
                    ("product_id", ASCENDING)], unique=True, name="chat_key"),
        # A user's chats, most recent first, ties by _id: page_for and presence_audience.
        IndexModel([("customer_id", ASCENDING), ("last_message_at", DESCENDING),
                    ("_id", DESCENDING)], name="customer_chats"),
        IndexModel([("vendor_id", ASCENDING), ("last_message_at", DESCENDING),
                    ("_id", DESCENDING)], name="vendor_chats"),
        # The chats about a product, for chatUpdated when the backend sets the product.
        IndexModel([("product_id", ASCENDING), ("last_message_at", DESCENDING),
                    ("_id", DESCENDING)], name="product_chats"),
    ],
    "messages": [
        # One seq per chat; history pages walk it backwards from before_seq.
        IndexModel([("chat_id", ASCENDING), ("seq", ASCENDING)], unique=True, name="chat_seq"),
        # Idempotent sends: one message per (sender, client_message_id). Every message has
        # a dedup_key (its own id when no clientMessageId was given), so the unique index
        # needs no partial filter, and by_client_id is one equality on it.
        IndexModel([("dedup_key", ASCENDING)], unique=True, name="idempotency"),
        # Unread messages of one side of a chat (mark_read): the equality prefix selects
        # exactly them. Not partial: query planners that ignore partial indexes (SecantusDB)
        # must still find them without a scan.
        IndexModel([("chat_id", ASCENDING), ("unread_for", ASCENDING), ("seq", ASCENDING)],
                   name="unread"),
        # Offline messages of a recipient, oldest first (undelivered ones have pending_for).
        IndexModel([("pending_for", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
                   name="undelivered"),
    ],
    "outbox": [
        # Claims: the oldest available item (due and free, or its lease ran out), one
        # range on available_at, sorted by the index (adapters/mongo/outbox.py).
        IndexModel([("available_at", ASCENDING), ("_id", ASCENDING)], name="claim"),
        # At most one pending item per key: every document is pending and carries a
        # dedup_key (its own id when it has no key), so no partial filter is needed.
        IndexModel([("dedup_key", ASCENDING)], unique=True, name="outbox_dedup"),
    ],
    "attachments": [
        # A message's attachments (equality on message_id), and the sweep: unattached ones
        # (message_id null) oldest first. Not partial: SecantusDB's planner ignores those.
        IndexModel([("message_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
                   name="by_message"),
        # Erasure: everything a user uploaded.
        IndexModel([("uploader", ASCENDING), ("_id", ASCENDING)], name="by_uploader"),
    ],
    # A reporter's reports, newest first (by_reporter).
    "reports": [IndexModel([("reporter", ASCENDING), ("created_at", DESCENDING)],
                           name="by_reporter")],
}


async def ensure_indexes(db: AsyncIOMotorDatabase[Any]) -> None:
    """Create the indexes; idempotent (an existing index of the same definition is kept).

    An index of the same name but another definition fails with ``OperationFailure``
    (IndexOptionsConflict / IndexKeySpecsConflict): drop it by hand, on purpose.
    """
    for collection, indexes in INDEXES.items():
        await db[collection].create_indexes(indexes)


async def prepare_mongo(
    client: AsyncIOMotorClient[Any], db: AsyncIOMotorDatabase[Any], timeout_s: float
) -> None:
    """What start-up needs before serving: MongoDB answers (bounded wait), indexes exist."""
    await wait_for_mongo(client, timeout_s)
    try:
        await ensure_indexes(db)
    except MONGO_DOWN as exc:
        raise StorageUnavailable(
            f"MongoDB went away while creating indexes: {_first_line(exc)}") from exc


class MongoHealthProbe:
    """Ready while MongoDB answers a ping within ``timeout_s``."""

    def __init__(self, client: AsyncIOMotorClient[Any], timeout_s: float = READY_TIMEOUT_S):
        self._client = client
        self._timeout_s = timeout_s

    async def ready(self) -> bool:
        try:
            await _ping(self._client, self._timeout_s)
        except PyMongoError:
            return False
        return True
