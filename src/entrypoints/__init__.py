"""Driving adapters (Socket.IO, HTTP, CLI) and the composition root (container.py)."""
