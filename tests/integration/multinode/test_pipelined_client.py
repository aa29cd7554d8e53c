"""The pipelined Redis client against a real redis-server: commands of one round go in one
write and are answered in order; a restarted Redis has lost the scripts and is answered
anyway; a Redis that is gone fails commands at once, not after a wait each."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis_support import RedisServer

from chat_server.adapters.redis.client import REDIS_DOWN
from chat_server.adapters.redis.pipelined import PipelinedRedis


async def test_the_commands_of_one_round_are_answered_in_order(redis_server: RedisServer):
    client = PipelinedRedis.from_url(redis_server.url)
    try:
        await client.ping()
        writes = 0
        transport = client._protocol.transport  # type: ignore[union-attr]
        original = transport.write

        def counting(data: bytes) -> None:
            nonlocal writes
            writes += 1
            original(data)

        transport.write = counting  # type: ignore[method-assign]
        replies = await asyncio.gather(*[client.execute("INCR", "pipelined:n")
                                         for _ in range(200)])
        assert replies == list(range(replies[0], replies[0] + 200))
        assert writes == 1
        with pytest.raises(ResponseError):
            await client.execute("NOSUCHCOMMAND")
        assert await client.set("pipelined:k", "v", nx=True, px=1000) == b"OK"
        assert await client.set("pipelined:k", "w", nx=True, px=1000) is None
    finally:
        await client.aclose()


async def test_a_script_survives_a_restart_and_an_outage_fails_fast(tmp_path: Path):
    redis = RedisServer(tmp_path).start()
    client = PipelinedRedis.from_url(redis.url, retry_after=5.0)
    script = client.register_script("return tonumber(ARGV[1]) + 1")
    try:
        assert await script(args=[41]) == 42
        redis.stop()
        with pytest.raises(REDIS_DOWN):
            await script(args=[1])
        started = time.monotonic()
        for _ in range(20):  # the failed connect is remembered: no wait per command
            with pytest.raises(RedisConnectionError):
                await client.ping()
        assert time.monotonic() - started < 0.5
        redis.start_on_same_port()  # empty: the script is gone
        client._failed_at = -1e9  # as if retry_after had passed
        assert await script(args=[1]) == 2
    finally:
        await client.aclose()
        redis.stop()
