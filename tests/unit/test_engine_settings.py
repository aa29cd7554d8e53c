"""The Engine.IO settings: parsed, validated, and passed to the engine by the container."""

from __future__ import annotations

import pytest

from chat_server.entrypoints.container import build_container
from chat_server.entrypoints.settings import ConfigError, Settings

SECRET = "unit-tests-secret-0123456789"


def test_the_engine_settings_have_documented_defaults():
    settings = Settings.load({"CHAT_JWT_SECRET": SECRET})
    assert (settings.transport_impl, settings.socket_buffer_bytes, settings.connect_timeout_s,
            settings.max_pending_sessions, settings.ping_interval_s,
            settings.ping_timeout_s) == ("lean", 4 * 2**20, 10.0, 2000, 25.0, 20.0)


def test_the_engine_settings_reach_the_engine():
    settings = Settings.load({
        "CHAT_JWT_SECRET": SECRET, "CHAT_TRANSPORT_IMPL": "Stock",
        "CHAT_SOCKET_BUFFER_BYTES": "65536", "CHAT_CONNECT_TIMEOUT_S": "2.5",
        "CHAT_MAX_PENDING_SESSIONS": "50", "CHAT_PING_INTERVAL_S": "0.5",
        "CHAT_PING_TIMEOUT_S": "0.25", "CHAT_MAX_PACKET_BYTES": "4096",
    })
    eio = build_container(settings).sio().eio
    assert (eio.transport_impl, eio.socket_buffer_bytes, eio.connect_timeout,
            eio.max_pending_sessions, eio.ping_interval, eio.ping_timeout,
            eio.max_http_buffer_size) == ("stock", 65536, 2.5, 50, 0.5, 0.25, 4096)


@pytest.mark.parametrize(("name", "value"), [
    ("CHAT_TRANSPORT_IMPL", "fast"),
    ("CHAT_SOCKET_BUFFER_BYTES", "4MiB"),
    ("CHAT_SOCKET_BUFFER_BYTES", "100"),
    ("CHAT_CONNECT_TIMEOUT_S", "0"),
    ("CHAT_CONNECT_TIMEOUT_S", "soon"),
    ("CHAT_MAX_PENDING_SESSIONS", "0"),
    ("CHAT_PING_INTERVAL_S", "-1"),
    ("CHAT_PING_TIMEOUT_S", "nan"),
])
def test_a_bad_engine_setting_is_one_clear_error(name: str, value: str):
    with pytest.raises(ConfigError) as refused:
        Settings.load({"CHAT_JWT_SECRET": SECRET, name: value})
    assert name in str(refused.value) and "\n" not in str(refused.value)
