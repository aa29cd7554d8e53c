"""Cross-node delivery through Redis: one channel per node, published to only by the nodes
that have something for one of its sockets.

Who holds whose sockets is the user-to-node map that the presence leases keep
(``presence.route_key``: per channel and user, ``node|connection`` members scored by the
lease's expiry). An emit names the users it is for; ``NodeFanout.publish`` queues it
without waiting, and a single publisher task sends everything queued since its last round
as ONE script call on its own connection: the script resolves the users to their live
nodes (this one excluded, it delivered first) and publishes one bundle per target node, a
JSON array of the queued payloads. So Redis sees one command per event-loop round, not one
per message, and a node receives only what concerns its sockets.

``NodeFanout.listen`` subscribes to this node's channel and hands every bundle received to
a callback, re-subscribing after an outage. While Redis is away, publishing drops what is
queued (the messages are stored; what awaited delivery is offered at the next connect) and
the outage is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis

from chat_server.adapters.redis.client import REDIS_DOWN, OutageLog
from chat_server.adapters.redis.pipelined import PipelinedRedis
from chat_server.adapters.redis.presence import route_key
from chat_server.application.ports import Channel
from chat_server.domain.model import UserRef

logger = logging.getLogger("chat_server.redis")

CHANNEL_PREFIX = "chat:node:"
# After a failed publish, what is queued within this time is dropped without trying.
RETRY_AFTER_S = 1.0
RESUBSCRIBE_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0)

# KEYS: the route sets the payloads name. ARGV[1] this node, ARGV[2] channel prefix,
# ARGV[3] the number of payloads, then per payload: the payload, the number of route sets
# it names, their positions in KEYS. Publishes one JSON array of payloads per live node
# other than this one; returns the number of bundles published.
_FANOUT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me = ARGV[1]
local nodes_of = {}
for i, key in ipairs(KEYS) do
  local set = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    local node = string.match(member, '^([^|]*)')
    if node ~= me then set[node] = true end
  end
  nodes_of[i] = set
end
local bundles, order = {}, {}
local pos = 4
for _ = 1, tonumber(ARGV[3]) do
  local payload = ARGV[pos]
  local count = tonumber(ARGV[pos + 1])
  pos = pos + 2
  local seen = {}
  for _ = 1, count do
    for node in pairs(nodes_of[tonumber(ARGV[pos])]) do
      if not seen[node] then
        seen[node] = true
        local bundle = bundles[node]
        if bundle == nil then
          bundle = {}
          bundles[node] = bundle
          order[#order + 1] = node
        end
        bundle[#bundle + 1] = payload
      end
    end
    pos = pos + 1
  end
end
for _, node in ipairs(order) do
  redis.call('PUBLISH', ARGV[2] .. node, '[' .. table.concat(bundles[node], ',') .. ']')
end
return #order
"""

Target = tuple[UserRef, Channel]


def create_publisher_connection(url: str) -> PipelinedRedis:
    """One dedicated connection (commands go on it in order), short timeouts."""
    return PipelinedRedis.from_url(url)


def create_subscriber_connection(url: str) -> aioredis.Redis:
    """Blocks reading its channel; a PING every 15 s of reads finds a dead connection."""
    return aioredis.Redis.from_url(url, socket_connect_timeout=1.0, health_check_interval=15)


class NodeFanout:
    """This node's side of cross-node delivery: queue payloads for other nodes' sockets,
    and receive the payloads other nodes queue for this one's.

    - ``publish`` never waits and never fails: it queues (at most ``buffer_limit``
      payloads; past that, and while Redis is known to be away, the payload is dropped and
      counted) and wakes the publisher task.
    - A payload reaches every node, other than this one, holding a live lease of one of its
      targets, at most once per node, in the order of ``publish`` calls.
    - ``listen`` runs until cancelled and calls ``on_bundle`` with every bundle (bytes, a
      JSON array of payloads) published to this node, and ``on_subscribed`` whenever the
      subscription is (re)established.
    """

    def __init__(self, publisher: PipelinedRedis, subscriber: aioredis.Redis, node_id: str,
                 buffer_limit: int = 10_000) -> None:
        self.node_id = node_id
        self.channel = CHANNEL_PREFIX + node_id
        self._publisher = publisher
        self._subscriber = subscriber
        self._script = publisher.register_script(_FANOUT)
        self._limit = buffer_limit
        self._queue: list[tuple[bytes, Sequence[Target]]] = []
        self._wake = asyncio.Event()
        self._retry_at = 0.0
        self._outage = OutageLog(logger, "cross-node delivery")
        self._tasks: list[asyncio.Task[None]] = []
        # The loops also end on this flag: redis-py can turn a cancellation that races a
        # socket timeout into a TimeoutError, which the loops survive by design.
        self._stopping = False
        self.dropped = 0
        self.published_bundles = 0
        self.subscribed = asyncio.Event()

    # --- publishing ------------------------------------------------------------------

    def publish(self, payload: bytes, targets: Sequence[Target]) -> None:
        if len(self._queue) >= self._limit or (
                self._outage.down and time.monotonic() < self._retry_at):
            self.dropped += 1
            return
        self._queue.append((payload, targets))
        self._wake.set()

    async def _publish_forever(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            keys, args = self._script_arguments(batch)
            try:
                self.published_bundles += int(await self._script(keys=keys, args=args))
            except REDIS_DOWN as exc:
                self.dropped += len(batch)
                self._retry_at = time.monotonic() + RETRY_AFTER_S
                self._outage.failed(exc)
                continue
            except Exception:  # a bug must not end delivery for the node's lifetime
                self.dropped += len(batch)
                logger.exception("publishing %d payloads to other nodes failed", len(batch))
                continue
            self._outage.succeeded()

    def _script_arguments(self, batch: list[tuple[bytes, Sequence[Target]]]
                          ) -> tuple[list[str], list[bytes | str | int]]:
        positions: dict[Target, int] = {}
        keys: list[str] = []
        args: list[bytes | str | int] = [self.node_id, CHANNEL_PREFIX, len(batch)]
        for payload, targets in batch:
            args.append(payload)
            args.append(len(targets))
            for target in targets:
                position = positions.get(target)
                if position is None:
                    keys.append(route_key(*target))
                    position = positions[target] = len(keys)
                args.append(position)
        return keys, args

    # --- receiving -------------------------------------------------------------------

    async def _listen_forever(self, on_bundle: Callable[[bytes], Awaitable[None]],
                              on_subscribed: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while not self._stopping:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                self._outage.succeeded()
                failures = 0
                try:
                    await on_subscribed()
                except Exception:
                    logger.exception("after subscribing to %s", self.channel)
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    try:
                        await on_bundle(message["data"])
                    except Exception:  # one bad bundle must not end the subscription
                        logger.exception("delivering a bundle from another node failed")
            except REDIS_DOWN as exc:
                self.subscribed.clear()
                self._outage.failed(exc)
            except Exception:  # the subscription must outlive any one failure
                self.subscribed.clear()
                logger.exception("listening on %s failed", self.channel)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RESUBSCRIBE_BACKOFF_S[min(failures,
                                                          len(RESUBSCRIBE_BACKOFF_S) - 1)])
            failures += 1

    # --- lifetime --------------------------------------------------------------------

    async def start(self, on_bundle: Callable[[bytes], Awaitable[None]],
                    on_subscribed: Callable[[], Awaitable[None]], wait_s: float = 2.0) -> None:
        """Start publishing and listening; waits (at most ``wait_s``: Redis may be away)
        until this node's channel is subscribed, so that what is routed here arrives."""
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._publish_forever(), name="cross-node-publisher"),
            asyncio.create_task(self._listen_forever(on_bundle, on_subscribed),
                                name="cross-node-listener"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait_s)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._publisher.aclose()
        with contextlib.suppress(Exception):
            await self._subscriber.aclose()
