"""One python-socketio client against a running chat-server, run by the interpreter of the
virtualenv that has the version to try: connect both namespaces over the given transport,
send a message with an ack, print one JSON line (docs/clients.md).

    python compat_python.py <url> <token> <recipientId> <websocket|polling>
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import version

import socketio


async def main(url: str, token: str, recipient: int, transport: str) -> dict[str, object]:
    result: dict[str, object] = {"client": f"python-socketio {version('python-socketio')} "
                                           f"(python-engineio {version('python-engineio')})",
                                 "transport": transport, "connected": False, "ack": None,
                                 "error": None}
    sio = socketio.AsyncClient(reconnection=False)
    opened = asyncio.Event()
    sio.on("userChats", lambda *_: opened.set(), namespace="/chat")
    try:
        await sio.connect(url, namespaces=["/presence", "/chat"], auth={"token": token},
                          transports=[transport], wait_timeout=5)
        await asyncio.wait_for(opened.wait(), 5)
        result["connected"] = True
        ack = await sio.call("sendMessage", {
            "recipientId": recipient, "productId": "sku-compat",
            "text": f"hello from {result['client']} over {transport}",
            "clientMessageId": f"py-{transport}"}, namespace="/chat", timeout=5)
        result["ack"] = f"{ack['statusCode']} {ack['message']}"
    except Exception as exc:  # what failed is the result
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await sio.disconnect()
    return result


if __name__ == "__main__":
    url, token, recipient, transport = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(url, token, int(recipient), transport))))
