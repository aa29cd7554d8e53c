"""CHAT_CONTACT_FILTER and CHAT_CONTACT_ALLOWED_DOMAINS, read by the entrypoint's settings."""

from __future__ import annotations

import pytest

from chat_server.domain.contact_filter import ContactFilter, FilterMode
from chat_server.entrypoints.settings import ConfigError, Settings

SECRET = "unit-tests-secret-0123456789-abcdef"


def load(**env: str) -> Settings:
    return Settings.load({"CHAT_JWT_SECRET": SECRET, **env})


def test_the_filter_is_off_by_default_with_no_allowed_domains():
    settings = load()
    assert settings.contact_filter is FilterMode.OFF
    assert settings.contact_allowed_domains == frozenset()


@pytest.mark.parametrize(("value", "mode"), [
    ("off", FilterMode.OFF), ("mask", FilterMode.MASK), ("block", FilterMode.BLOCK),
    ("MASK", FilterMode.MASK), (" Block ", FilterMode.BLOCK), ("", FilterMode.OFF),
])
def test_the_filter_mode_is_read_in_any_case(value: str, mode: FilterMode):
    assert load(CHAT_CONTACT_FILTER=value).contact_filter is mode


@pytest.mark.parametrize("value", ["hide", "on", "1", "masked", "mask,block"])
def test_an_unknown_filter_mode_is_refused_in_one_line(value: str):
    with pytest.raises(ConfigError) as refused:
        load(CHAT_CONTACT_FILTER=value)
    assert "CHAT_CONTACT_FILTER" in str(refused.value) and "\n" not in str(refused.value)
    assert "off, mask or block" in str(refused.value)


def test_allowed_domains_are_comma_separated_lower_cased_and_deduplicated():
    settings = load(CHAT_CONTACT_ALLOWED_DOMAINS=" Shop.Example, help.shop.example ,,shop.example,"
                                                 "xn--bcher-kva.de, my-shop.co.uk")
    assert settings.contact_allowed_domains == {
        "shop.example", "help.shop.example", "xn--bcher-kva.de", "my-shop.co.uk"}


@pytest.mark.parametrize("value", [
    "https://shop.example", "shop.example/p", "*.shop.example", "shop..example", "-shop.example",
    "shop-.example", "com", "shop_example.com", "shop example.com", "b\u00fccher.de",
    "10.0.0.1", "a" * 64 + ".com", ("a" * 60 + ".") * 5 + "com", "shop.example:8080",
])
def test_what_is_not_a_host_name_is_refused_in_one_line(value: str):
    with pytest.raises(ConfigError) as refused:
        load(CHAT_CONTACT_ALLOWED_DOMAINS=f"shop.example,{value}")
    assert "CHAT_CONTACT_ALLOWED_DOMAINS" in str(refused.value) and "\n" not in str(refused.value)


def test_the_settings_build_the_filter_the_use_cases_apply():
    settings = load(CHAT_CONTACT_FILTER="mask", CHAT_CONTACT_ALLOWED_DOMAINS="shop.example")
    contact_filter = ContactFilter(settings.contact_filter, settings.contact_allowed_domains)
    assert contact_filter.apply("see https://shop.example/p/12345678").masked is False
    assert contact_filter.apply("call 07700 900123").text == "call [hidden]"
