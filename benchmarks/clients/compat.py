"""Which clients work with chat-server: every socket.io-client major (and 4.5, the last
without ``emitWithAck``) and two python-socketio 5.x releases, each over WebSocket and
long-polling, against a real server; prints the table of docs/clients.md.

    python benchmarks/clients/compat.py

Installs what it needs: the npm packages of ``package.json`` (from the lock file), and the
older python-socketio in a virtualenv under ``.work/`` (the newest is the project's own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
SECRET = "client-compatibility-secret-0123456789"
JS_CLIENTS = ["sio2", "sio3", "sio45", "sio4"]
# (python-socketio, python-engineio) releases: None is the project's own virtualenv.
PY_CLIENTS: list[tuple[str, str] | None] = [None, ("5.8.0", "4.5.1")]
TRANSPORTS = ["websocket", "polling"]
HIGH = "100000/10s"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def token(user_type: str, user_id: int) -> str:
    return jwt.encode({"sub": str(user_id), "userType": user_type,
                       "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env.update(CHAT_JWT_SECRET=SECRET, CHAT_PORT=str(port), CHAT_LOG_LEVEL="warning",
               CHAT_SEND_RATE=HIGH, CHAT_SEND_BURST="100000", CHAT_REQUEST_RATE=HIGH,
               CHAT_REQUEST_BURST="100000", CHAT_NEW_CHAT_RATE=HIGH,
               CHAT_NEW_CHAT_BURST="100000", CHAT_CONNECT_RATE=HIGH,
               CHAT_CONNECT_BURST="100000")
    server = subprocess.Popen([str(Path(sys.executable).with_name("chat-server"))], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return server, url
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("chat-server did not start") from None
            time.sleep(0.1)


def python_for(release: tuple[str, str] | None) -> Path:
    if release is None:
        return Path(sys.executable)
    venv = WORK / f"python-socketio-{release[0]}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        f"python-socketio=={release[0]}", f"python-engineio=={release[1]}",
                        "aiohttp"], check=True)
    return python


def main() -> None:
    if not (HERE / "node_modules" / "sio4").exists():
        subprocess.run(["npm", "ci" if (HERE / "package-lock.json").exists() else "install",
                        "--silent", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    server, url = start_server()
    results = []
    try:
        user = 5000
        for client in [*JS_CLIENTS, *PY_CLIENTS]:
            for transport in TRANSPORTS:
                user += 1
                args = [url, token("customer", user), str(user + 100000), transport]
                if isinstance(client, str):
                    command = ["node", str(HERE / "compat.js"), client, *args]
                else:
                    command = [str(python_for(client)), str(HERE / "compat_python.py"), *args]
                done = subprocess.run(command, capture_output=True, text=True, timeout=60)
                line = (done.stdout.strip().splitlines() or ["{}"])[-1]
                try:
                    results.append(json.loads(line))
                except ValueError:
                    results.append({"client": str(client), "transport": transport,
                                    "error": (done.stderr or done.stdout)[-300:]})
                print(json.dumps(results[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(15)
    print("\n| client | transport | connects | ack of sendMessage | emitWithAck | error |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.get('client')} | {r.get('transport')} | "
              f"{'yes' if r.get('connected') else 'no'} | {r.get('ack') or '-'} | "
              f"{r.get('emitWithAck') or '-'} | {r.get('error') or ''} |")


if __name__ == "__main__":
    main()
