"""The README's snippets, run exactly as printed: the Python client against a real server in
development mode (its token typed on stdin), and the token command of "Running it for real"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jwt
from service_support import REPO, Server, http_json

README = (REPO / "README.md").read_text()


def block(after_heading: str, language: str) -> str:
    """The first fenced block of ``language`` in the section that starts at the heading."""
    section = README.split(f"\n## {after_heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"no {language} block under {after_heading!r}"
    return found.group(1)


def test_the_python_client_of_the_readme_opens_a_chat(tmp_path: Path):
    snippet = block("A client in 20 lines", "python")
    server = Server({}, tmp_path / "server.log").start()  # no key: development mode
    try:
        status, body = http_json(f"{server.url}/dev/token", "POST", {"type": "customer", "id": 1})
        assert status == 200
        script = tmp_path / "client.py"
        script.write_text(snippet)
        done = subprocess.run([sys.executable, str(script)], input=body["token"] + "\n",
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "CHAT_SERVER_URL": server.url})
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.removeprefix("customer token: ").splitlines()
    assert lines[0] == "200 New chat created", done.stdout
    assert re.fullmatch(r"\['[0-9a-f]{24}'\]", lines[1]), done.stdout
    assert len(lines) == 2, done.stdout


def test_the_token_command_of_the_readme_prints_a_token_for_the_exported_secret():
    commands = block("Running it for real", "bash").splitlines()
    export = next(line for line in commands if line.startswith("export CHAT_JWT_SECRET="))
    token_line = next(line for line in commands if line.startswith("chat-server token "))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", f"{export}\n{token_line}"], capture_output=True,
                          text=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr
    secret = re.search(r"CHAT_JWT_SECRET='([^']+)'", export)
    assert secret
    claims = jwt.decode(done.stdout.strip(), secret.group(1), algorithms=["HS256"],
                        options={"verify_sub": False})
    assert (claims["sub"], claims["userType"]) == ("2", "customer")
    assert claims["exp"] - claims["iat"] == 3600
