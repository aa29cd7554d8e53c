"""Fixtures of the transport tests; the helpers live in ``service_support`` and
``engine_support``."""

from service_support import connect, server

__all__ = ["connect", "server"]
