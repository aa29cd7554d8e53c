"""``chat-server`` as an operator runs it: one clear line for a bad configuration or a port
in use, "serving" only once it listens, tokens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SECRET = "cli-tests-secret-0123456789-abcdefgh"
PUBLIC_PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(
).public_bytes(serialization.Encoding.PEM,
               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def run(*args: str, timeout: float = 20, **env: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("chat-server")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    return subprocess.run([str(script), *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize(("env", "args", "says"), [
    ({"CHAT_STORAGE": "cassandra", "CHAT_JWT_SECRET": SECRET}, [], "CHAT_STORAGE"),
    ({"CHAT_JWT_SECRET": SECRET}, ["--port", "99999"], "--port"),
    ({"CHAT_PORT": "http", "CHAT_JWT_SECRET": SECRET}, [], "CHAT_PORT"),
    ({"CHAT_JWT_SECRET": "short"}, [], "CHAT_JWT_SECRET"),
    ({"CHAT_JWT_PUBLIC_KEY": "/nonexistent.pem", "CHAT_JWT_ALGORITHMS": "RS256"}, [],
     "CHAT_JWT_PUBLIC_KEY"),
    ({"CHAT_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----",
      "CHAT_JWT_ALGORITHMS": "RS256"}, [], "CHAT_JWT_PUBLIC_KEY"),
    ({"CHAT_SEND_RATE": "fast", "CHAT_JWT_SECRET": SECRET}, [], "CHAT_SEND_RATE"),
    ({}, ["--host", "0.0.0.0"], "development mode"),
    # RS256 has no shared secret to derive the media URL key from.
    ({"CHAT_JWT_PUBLIC_KEY": PUBLIC_PEM, "CHAT_JWT_ALGORITHMS": "RS256"}, [],
     "CHAT_MEDIA_SECRET"),
    ({"CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo", "CHAT_REDIS_URL": "redis://x:1/0",
      "CHAT_MEDIA_STORAGE": "fs"}, [], "CHAT_MEDIA_STORAGE=gridfs"),
])
def test_a_bad_configuration_stops_with_one_clear_line(env: dict[str, str], args: list[str],
                                                        says: str):
    result = run(*args, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_token_prints_a_jwt_signed_with_the_configured_secret():
    result = run("token", "--type", "vendor", "--id", "2", "--ttl", "60", CHAT_JWT_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"],
                        options={"verify_sub": False})
    assert claims["sub"] == "2" and claims["userType"] == "vendor"
    assert claims["exp"] - claims["iat"] == 60


def test_token_refuses_without_a_secret_and_asymmetric_needs_a_private_key(tmp_path: Path):
    result = run("token", "--type", "customer", "--id", "2")
    assert result.returncode == 2 and "CHAT_JWT_SECRET" in result.stderr

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    env = {"CHAT_JWT_ALGORITHMS": "RS256", "CHAT_JWT_PUBLIC_KEY": public.decode()}
    assert run("token", "--type", "customer", "--id", "2", **env).returncode == 2
    result = run("token", "--type", "customer", "--id", "2", "--private-key", str(private), **env)
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), public, algorithms=["RS256"],
                        options={"verify_sub": False})
    assert claims["sub"] == "2"


def test_a_port_in_use_stops_the_start_with_one_line_and_status_4():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(CHAT_JWT_SECRET=SECRET, CHAT_PORT=str(port))
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert lines == [f"chat-server: cannot listen on 127.0.0.1:{port}: address already in use "
                     "(another process listens there: stop it, or set CHAT_PORT / --port)"]


def test_serving_is_logged_once_the_port_accepts_connections(tmp_path: Path):
    script = Path(sys.executable).with_name("chat-server")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(script)], env={**clean, "CHAT_JWT_SECRET": SECRET,
                                                   "CHAT_PORT": str(port)},
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "serving" in line:
                # Told as soon as it is printed: the socket listens already.
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
        else:
            pytest.fail("chat-server ended without serving")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
