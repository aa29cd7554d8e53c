"""python-socketio's Redis manager, carrying emits between server nodes.

It delivers to this node's sockets first and then publishes for the others, so a node keeps
serving its own connections while Redis is away. The library logs every failed publish; here
an outage is logged once, and publishing never waits on a dead Redis for long.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from chat_server.adapters.redis import OutageLog

logger = logging.getLogger("chat_server.redis")


class ChatRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    def __init__(self, url: str) -> None:
        super().__init__(
            url, channel="chat-server",
            redis_options={"socket_timeout": 1.0, "socket_connect_timeout": 1.0,
                           "health_check_interval": 15},
        )
        self._outage = OutageLog(logger, "cross-node delivery")

    async def _publish(self, data: Any) -> None:
        try:
            if not self.connected:  # type: ignore[has-type]
                self._redis_connect()
            await self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as exc:  # redis' own and OS errors alike mean "not published"
            self.connected = False
            self._outage.failed(exc)
            return
        self._outage.succeeded()
