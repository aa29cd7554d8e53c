"""Fixtures of the protocol tests; the helpers live in ``protocol_support``."""

from protocol_support import connect, server

__all__ = ["connect", "server"]
