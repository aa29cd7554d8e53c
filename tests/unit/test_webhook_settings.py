"""The webhook settings: defaults, parsing, and the one-line refusals of bad values."""

from __future__ import annotations

import pytest

from chat_server.entrypoints.settings import ConfigError, Settings

JWT = {"CHAT_JWT_SECRET": "unit-tests-secret-0123456789-abcdef"}
HOOK = {"CHAT_WEBHOOK_URL": "https://shop.example/hooks/chat",
        "CHAT_WEBHOOK_SECRET": "w" * 32}


def test_webhooks_are_off_by_default_with_the_documented_defaults():
    settings = Settings.load(JWT)
    assert settings.webhook_url is None and settings.webhook_secret is None
    assert (settings.webhook_timeout_s, settings.webhook_concurrency,
            settings.webhook_max_pending, settings.webhook_poll_s,
            settings.unread_notify_after_s) == (5.0, 8, 100_000, 1.0, 60.0)


def test_webhook_settings_are_read_from_the_environment():
    settings = Settings.load({
        **JWT, **HOOK, "CHAT_WEBHOOK_TIMEOUT_S": "2.5", "CHAT_WEBHOOK_CONCURRENCY": "16",
        "CHAT_WEBHOOK_MAX_PENDING": "500", "CHAT_WEBHOOK_POLL_S": "0.25",
        "CHAT_UNREAD_NOTIFY_AFTER_S": "300",
    })
    assert settings.webhook_url == "https://shop.example/hooks/chat"
    assert settings.webhook_secret == "w" * 32
    assert (settings.webhook_timeout_s, settings.webhook_concurrency,
            settings.webhook_max_pending, settings.webhook_poll_s,
            settings.unread_notify_after_s) == (2.5, 16, 500, 0.25, 300.0)
    local = Settings.load({**JWT, **HOOK, "CHAT_WEBHOOK_URL": "http://127.0.0.1:9000/h"})
    assert local.webhook_url == "http://127.0.0.1:9000/h"


@pytest.mark.parametrize(("env", "message"), [
    ({"CHAT_WEBHOOK_URL": "ftp://shop.example/h"}, "expected an http:// or https:// URL"),
    ({"CHAT_WEBHOOK_URL": "shop.example/hooks"}, "expected an http:// or https:// URL"),
    ({"CHAT_WEBHOOK_URL": "https://"}, "expected an http:// or https:// URL"),
    ({"CHAT_WEBHOOK_URL": "https://shop.example:99999/h"}, "expected an http:// or https:// URL"),
    ({"CHAT_WEBHOOK_URL": "https://shop.example/a b"}, "expected an http:// or https:// URL"),
    ({"CHAT_WEBHOOK_SECRET": None}, "CHAT_WEBHOOK_URL needs CHAT_WEBHOOK_SECRET"),
    ({"CHAT_WEBHOOK_SECRET": "s" * 31}, "too short: use at least 32 characters"),
    ({"CHAT_WEBHOOK_URL": None}, "CHAT_WEBHOOK_SECRET is set but CHAT_WEBHOOK_URL is not"),
    ({"CHAT_WEBHOOK_TIMEOUT_S": "0"}, "CHAT_WEBHOOK_TIMEOUT_S='0': expected 0.1..60"),
    ({"CHAT_WEBHOOK_TIMEOUT_S": "soon"}, "expected a number"),
    ({"CHAT_WEBHOOK_CONCURRENCY": "0"}, "CHAT_WEBHOOK_CONCURRENCY='0': expected 1..256"),
    ({"CHAT_WEBHOOK_CONCURRENCY": "2.5"}, "expected an integer"),
    ({"CHAT_WEBHOOK_MAX_PENDING": "0"}, "CHAT_WEBHOOK_MAX_PENDING='0'"),
    ({"CHAT_WEBHOOK_POLL_S": "0"}, "CHAT_WEBHOOK_POLL_S='0'"),
    ({"CHAT_UNREAD_NOTIFY_AFTER_S": "0"}, "CHAT_UNREAD_NOTIFY_AFTER_S='0'"),
])
def test_bad_webhook_settings_are_refused_in_one_line(env: dict[str, str | None], message: str):
    merged = {**JWT, **HOOK, **env}
    with pytest.raises(ConfigError, match=message) as refused:
        Settings.load({k: v for k, v in merged.items() if v is not None})
    assert "\n" not in str(refused.value)


def test_a_refused_webhook_url_does_not_echo_its_password():
    with pytest.raises(ConfigError) as refused:
        Settings.load({**JWT, **HOOK, "CHAT_WEBHOOK_URL": "ftp://hook:hunter2-password@x/h"})
    assert "hunter2" not in str(refused.value)
