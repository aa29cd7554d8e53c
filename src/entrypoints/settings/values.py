"""Parsers of single settings values: each raises ``ConfigError`` with the variable's name
and what was expected, never a traceback."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import jwt

from chat_server.domain.contact_filter import FilterMode


class ConfigError(Exception):
    """A bad configuration: reported as one line at start, never a traceback."""


STORAGES = ("memory", "mongo")
TRANSPORT_IMPLS = ("lean", "stock")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_rate(name: str, value: str) -> float | None:
    """``20/10s`` -> 2.0 tokens per second; ``off`` -> ``None`` (no limit)."""
    if value.strip().lower() == "off":
        return None
    match = _RATE.match(value)
    if not match:
        raise ConfigError(f"{name}={value!r}: expected a rate such as 20/10s or 'off'")
    count, span, unit = match.groups()
    seconds = float(span or 1) * _UNIT_SECONDS[unit]
    if seconds <= 0 or float(count) <= 0:
        raise ConfigError(f"{name}={value!r}: the rate must be positive")
    return float(count) / seconds


def int_in(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected an integer") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}={value!r}: expected {low}..{high}")
    return number


def float_in(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a number") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}={value!r}: expected {low}..{high}")
    return number


def flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={value!r}: expected 1/0, true/false")


def parse_contact_filter(name: str, value: str) -> FilterMode:
    try:
        return FilterMode(value.strip().lower())
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected off, mask or block") from None


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def parse_domains(name: str, value: str) -> frozenset[str]:
    """``shop.example, Help.Shop.Example`` -> {"shop.example", "help.shop.example"}: host
    names of two labels or more (a lone TLD would allow a whole namespace), IDNs in their
    xn-- form."""
    domains = set()
    for item in value.split(","):
        domain = item.strip().lower()
        if not domain:
            continue
        labels = domain.split(".")
        if (len(domain) > 253 or len(labels) < 2 or labels[-1].isdigit()
                or not all(_HOST_LABEL.fullmatch(label) for label in labels)):
            raise ConfigError(f"{name}: {item.strip()!r} is not a host name such as shop.example")
        domains.add(domain)
    return frozenset(domains)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_key(name: str, value: str) -> str:
    """A PEM given inline, or the path of a PEM file."""
    if "-----BEGIN" in value:
        return value
    path = Path(value)
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read key file {value!r} ({exc.strerror})") from None


def check_public_key(pem: str, algorithms: tuple[str, ...]) -> None:
    """A key that cannot verify would refuse every connection: refuse to start instead."""
    for name in algorithms:
        try:
            jwt.get_algorithm_by_name(name).prepare_key(pem)
        except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
            raise ConfigError(
                f"CHAT_JWT_PUBLIC_KEY is not a usable {name} public key ({exc})"
            ) from None


