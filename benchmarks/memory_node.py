"""``chat-server`` on in-memory storage WITH Redis coordination, for benchmarks/nodes.py only.

The server refuses ``CHAT_REDIS_URL`` with ``CHAT_STORAGE=memory`` (nodes would not share
chats); to measure what crossing nodes costs without a storage server's cost in the way,
this runs the service as ``chat-server`` does with that check lifted: each node keeps its
own copy of every chat (found by product and users), and every emit crosses nodes exactly
as on shared storage. Not a way to run the service.
"""

from __future__ import annotations

import attrs

from chat_server.entrypoints import cli
from chat_server.entrypoints.observability.logs import configure_logging
from chat_server.entrypoints.serving import bind_listeners
from chat_server.entrypoints.settings import Settings


def main() -> None:
    settings = attrs.evolve(Settings.load(), storage="memory")  # loaded as mongo
    configure_logging(settings.log_level, settings.log_format)
    listeners = bind_listeners(settings.host, settings.port)
    try:
        cli._run(cli._serve(settings, listeners))
    finally:
        for sock in listeners:
            sock.close()


if __name__ == "__main__":
    main()
