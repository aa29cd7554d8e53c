"""Fixtures of the multi-node tests: Redis and MongoDB come from tests/integration/conftest.py."""
