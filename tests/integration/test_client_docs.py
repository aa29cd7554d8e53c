"""The token recipes of docs/clients.md, run as printed: each mints a token that a real
server (HS256 with a secret, RS256 with a public key) accepts for that user."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from service_support import REPO, SECRET, Client, Server, new_id

DOC = (REPO / "docs" / "clients.md").read_text()
CLIENTS = REPO / "benchmarks" / "clients"


def recipe(name: str) -> str:
    found = re.search(rf"<!-- recipe: {name} -->\n```\w+\n(.*?)```", DOC, re.S)
    assert found, f"docs/clients.md has no recipe {name!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, rsa_pem: tuple[str, str]
            ) -> Iterator[dict[str, Server]]:
    logs = tmp_path_factory.mktemp("client-docs")
    started = {
        "HS256": Server({"CHAT_JWT_SECRET": SECRET}, logs / "hs256.log").start(),
        "RS256": Server({"CHAT_JWT_PUBLIC_KEY": rsa_pem[1], "CHAT_JWT_ALGORITHMS": "RS256",
                         "CHAT_MEDIA_SECRET": "m" * 32}, logs / "rs256.log").start(),
    }
    yield started
    for server in started.values():
        server.stop()


async def accepted(server: Server, user_type: str, user_id: int, token: str) -> None:
    client = await Client(server.url, user_type, user_id).connect(token=token)
    try:
        ack = await client.call("getUserChats", {})
        assert ack["statusCode"] == 200
    finally:
        await client.close()


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
async def test_the_python_recipes_mint_accepted_tokens(algorithm: str, servers: dict[str, Server],
                                                       rsa_pem: tuple[str, str]):
    namespace: dict[str, Any] = {}
    exec(recipe(f"python-{algorithm.lower()}"), namespace)  # the recipe as printed
    key = SECRET if algorithm == "HS256" else rsa_pem[0]
    user_id = new_id()
    await accepted(servers[algorithm], "vendor", user_id,
                   namespace["user_token"]("vendor", user_id, key))


def node_token(source: str, user_type: str, user_id: int, key: str, algorithm: str,
               node_path: Path | None = None) -> str:
    script = f"{source}\nconsole.log(userToken({json.dumps(user_type)}, {user_id}, " \
             f"{json.dumps(key)}, {json.dumps(algorithm)}));\n"
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin"}
    if node_path is not None:
        env["NODE_PATH"] = str(node_path)
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30,
                          env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """jsonwebtoken and the socket.io-clients, from the lock file of benchmarks/clients."""
    assert shutil.which("node") and shutil.which("npm"), "Node.js and npm are needed"
    if not (CLIENTS / "node_modules" / "jsonwebtoken").exists():
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=CLIENTS,
                       check=True, timeout=300)
    return CLIENTS / "node_modules"


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
@pytest.mark.parametrize("name", ["node-crypto", "node-jsonwebtoken"])
async def test_the_node_recipes_mint_accepted_tokens(name: str, algorithm: str,
                                                     servers: dict[str, Server],
                                                     rsa_pem: tuple[str, str],
                                                     node_modules: Path):
    key = SECRET if algorithm == "HS256" else rsa_pem[0]
    user_id = new_id()
    token = node_token(recipe(name), "customer", user_id, key, algorithm, node_modules)
    await accepted(servers[algorithm], "customer", user_id, token)
