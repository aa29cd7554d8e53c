"""Use cases and the ports they need; imports nothing of any framework or driver."""
