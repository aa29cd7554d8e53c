"""Fixtures of the protocol tests; the helpers live in ``service_support``."""

from service_support import connect, server

__all__ = ["connect", "server"]
